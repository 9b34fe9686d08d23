//go:build linux

package conformance

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

// allCases returns the whole table, sorted by case id.
func allCases() []*wsCase {
	var cs []*wsCase
	for _, g := range []func() []*wsCase{framingCases, pingCases, rsvCases, opcodeCases, fragmentCases, utf8Cases, closeCases, limitCases} {
		cs = append(cs, g()...)
	}
	sortCases(cs)
	return cs
}

// conformanceArgs are the flags of the server the table runs against.
var conformanceArgs = []string{
	"--max-message", fmt.Sprint(maxMessage),
	// No heartbeat ping may land in the middle of a case's expected
	// frames.
	"--ping-interval", "1h",
}

// TestConformance runs the case table against one `c1m serve
// --handler=echo`: the fast subset by default, every case with
// -conformance.full. It prints the table (go test -v shows it), fails on
// any FAILED or NON-STRICT case, and then checks that the server's
// descriptors, goroutines and heap are back to their baseline.
func TestConformance(t *testing.T) {
	cs := allCases()
	if err := checkIDs(cs); err != nil {
		t.Fatal(err)
	}
	srv := startServer(t, conformanceArgs...)
	base := srv.usage()

	var rows []caseResult
	var skipped []*wsCase
	start := time.Now()
	for _, c := range cs {
		if c.slow && !*full {
			skipped = append(skipped, c)
			continue
		}
		rows = append(rows, c.run(srv.addr))
		srv.alive()
	}
	total := time.Since(start)

	var buf bytes.Buffer
	writeTable(&buf, rows, skipped, total)
	fmt.Fprintf(os.Stdout, "\n%s\n", buf.String())
	if *report != "" {
		writeReport(t, *report, buf.String())
	}
	for _, r := range rows {
		if r.result != resOK {
			t.Errorf("case %s (%s): %s: close %s: %s", r.c.id, r.c.desc, r.result, r.code, r.note)
		}
	}
	srv.checkNoLeaks(base)
}

// writeReport writes docs/conformance.md (or path): how it was made, then
// the table.
func writeReport(t *testing.T, path, table string) {
	t.Helper()
	mode := "fast subset (`go test ./server/conformance`)"
	if *full {
		mode = "all cases"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "# Conformance\n\n")
	fmt.Fprintf(&b, "c1m's Autobahn-equivalent conformance table (package `server/conformance`; see its doc.go for what OK, NON-STRICT and FAILED mean). ")
	fmt.Fprintf(&b, "Each case runs on a fresh connection to `c1m serve --handler=echo %s` and names the RFC 6455 section it checks.\n\n", strings.Join(conformanceArgs, " "))
	fmt.Fprintf(&b, "Produced by `make conformance CONFORMANCE_REPORT=docs/conformance.md`, that is\n\n```sh\ngo test -count=1 -timeout 30m -run '^TestConformance$' -v ./server/conformance -args -conformance.full -conformance.report=docs/conformance.md\n```\n\n")
	fmt.Fprintf(&b, "Mode: %s. Machine: %s, GOMAXPROCS of the test %d. Durations are wall time on this machine, for information; no case passes or fails on time.\n\n", mode, hostInfo(), gomaxprocs())
	b.WriteString(table)
	if !filepath.IsAbs(path) {
		// go test runs in the package directory; a relative path is
		// relative to the module root, where make runs.
		path = filepath.Join("..", "..", path)
	}
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatalf("cannot write the report: %v", err)
	}
}

// checkIDs fails on a duplicate case id.
func checkIDs(cs []*wsCase) error {
	seen := map[string]bool{}
	for _, c := range cs {
		if seen[c.id] {
			return fmt.Errorf("duplicate case id %s", c.id)
		}
		seen[c.id] = true
	}
	return nil
}

func gomaxprocs() int { return runtime.GOMAXPROCS(0) }

// hostInfo is "linux/amd64, N CPUs".
func hostInfo() string {
	return fmt.Sprintf("%s/%s, %d CPUs", runtime.GOOS, runtime.GOARCH, runtime.NumCPU())
}
