package main

import (
	"os/exec"
	"slices"
	"strings"
	"testing"
)

// layers is the house's import graph (docs/design.md, "Packages"): for
// each package of ours, the packages of ours it may import directly.
// Imports outside the module are not constrained here. A package missing
// from the map fails the test, so a new package must take its place in the
// graph on purpose.
var layers = map[string][]string{
	"c1m/poller":           {},
	"c1m/wsproto":          {},
	"c1m/sysctl":           {},
	"c1m/internal/netaddr": {},
	"c1m/internal/debuggc": {},
	"c1m/app/web":          {},
	"c1m/broadcast":        {"c1m/wsproto"},
	"c1m/cluster":          {"c1m/broadcast"},
	"c1m/server":           {"c1m/poller", "c1m/wsproto", "c1m/internal/debuggc"},
	"c1m/app":              {"c1m/server", "c1m/broadcast", "c1m/cluster", "c1m/wsproto", "c1m/internal/netaddr", "c1m/app/web"},
	"c1m/bench":            {"c1m/poller", "c1m/wsproto", "c1m/sysctl", "c1m/internal/debuggc"},
	"c1m/bench/baseline":   {"c1m/broadcast", "c1m/sysctl", "c1m/internal/netaddr", "c1m/bench/internal/pubapi"},
	"c1m/bench/raw": {"c1m/poller", "c1m/wsproto", "c1m/sysctl", "c1m/broadcast", "c1m/internal/netaddr",
		"c1m/bench/internal/pubapi"},
	"c1m/bench/internal/pubapi": {"c1m/internal/debuggc"},
	"c1m/internal/c1mtest":      {"c1m/bench", "c1m/wsproto"},
	"c1m/server/conformance":    {},
	"c1m/deploy":                {}, // tests of the deployment files only
	"c1m/cmd/c1m": {"c1m/app", "c1m/server", "c1m/broadcast", "c1m/cluster", "c1m/wsproto", "c1m/sysctl",
		"c1m/bench", "c1m/bench/baseline", "c1m/bench/raw"},
}

// testLayers are the extra packages a package's own tests may import:
// the benchmark's worker is tested against the real engine it measures.
var testLayers = map[string][]string{
	"c1m/bench": {"c1m/server"},
}

// TestLayers asserts the import graph with `go list`, for the code and for
// each package's own tests, so it cannot drift: the engine (server) knows
// nothing of the fan-out or the protocol, the fan-out nothing of the
// engine, and only app (and the command) wires them together.
func TestLayers(t *testing.T) {
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("cannot find the go tool: %v", err)
	}
	out, err := exec.Command(goTool, "list", "-f", "{{.ImportPath}}|{{join .Imports \" \"}}|{{join .TestImports \" \"}}", "c1m/...").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	seen := map[string]bool{}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		parts := strings.SplitN(line, "|", 3)
		if len(parts) != 3 {
			t.Fatalf("go list line %q", line)
		}
		pkg := parts[0]
		seen[pkg] = true
		allowed, ok := layers[pkg]
		if !ok {
			t.Errorf("package %s has no place in the import graph: add it to layers (and to docs/design.md)", pkg)
			continue
		}
		for _, imp := range strings.Fields(parts[1]) {
			if strings.HasPrefix(imp, "c1m/") && !slices.Contains(allowed, imp) {
				t.Errorf("%s imports %s: not allowed by the import graph", pkg, imp)
			}
		}
		// A package's in-package tests may also use the test support, but
		// must not reach up the layers (a test edge pointing up hides a
		// dependency the code does not admit).
		for _, imp := range strings.Fields(parts[2]) {
			if strings.HasPrefix(imp, "c1m/") && imp != pkg && imp != "c1m/internal/c1mtest" && !slices.Contains(allowed, imp) && !slices.Contains(testLayers[pkg], imp) {
				t.Errorf("%s's tests import %s: not allowed by the import graph", pkg, imp)
			}
		}
	}
	for pkg := range layers {
		if !seen[pkg] {
			t.Errorf("layers names %s, which go list does not know", pkg)
		}
	}
}
