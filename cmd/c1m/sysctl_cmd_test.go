package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// sysctlFakeRoot builds a tiny tree standing for "/" with a stock kernel.
func sysctlFakeRoot(t *testing.T, somaxconn string) string {
	t.Helper()
	root := t.TempDir()
	files := map[string]string{
		"proc/sys/fs/file-max":                    "2466170",
		"proc/sys/fs/nr_open":                     "1048576",
		"proc/sys/net/ipv4/ip_local_port_range":   "32768\t60999",
		"proc/sys/net/ipv4/tcp_ehash_entries":     "262144",
		"proc/sys/net/ipv4/tcp_tw_reuse":          "2",
		"proc/sys/net/core/somaxconn":             somaxconn,
		"proc/sys/net/netfilter/nf_conntrack_max": "262144",
		"proc/meminfo":                            "MemAvailable:   24364136 kB",
		"proc/self/limits":                        "Max open files            20000                20000                files",
	}
	for name, content := range files {
		p := filepath.Join(root, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

func sysctlRun(args ...string) (code int, stdout, stderr string) {
	var o, e bytes.Buffer
	code = runSysctl(args, &o, &e)
	return code, o.String(), e.String()
}

func TestSysctlUsageErrors(t *testing.T) {
	f := func(args []string, wantStderr string) {
		t.Helper()
		code, stdout, stderr := sysctlRun(args...)
		if code != 2 {
			t.Fatalf("%q: exit %d, want 2", args, code)
		}
		if stdout != "" {
			t.Fatalf("%q: stdout %q, want nothing", args, stdout)
		}
		if strings.Count(stderr, "\n") != 1 || !strings.HasSuffix(stderr, ".\n") {
			t.Fatalf("%q: stderr %q is not one sentence on one line", args, stderr)
		}
		if !strings.Contains(stderr, wantStderr) {
			t.Fatalf("%q: stderr %q does not mention %q", args, stderr, wantStderr)
		}
	}
	f(nil, "missing subcommand")
	f([]string{"tune"}, `unknown subcommand "tune"`)
	f([]string{"check", "--conns", "0"}, "--conns must be a positive number")
	f([]string{"check", "--conns", "many"}, "invalid value")
	f([]string{"check", "--role", "proxy"}, "--role must be server or loadgen")
	f([]string{"check", "--dry-run"}, "flag provided but not defined: -dry-run")
	f([]string{"apply", "--conns", "5"}, "flag provided but not defined: -conns")
	f([]string{"revert", "--role", "server"}, "flag provided but not defined: -role")
	f([]string{"check", "extra"}, `unexpected argument "extra"`)
}

func TestSysctlHelp(t *testing.T) {
	for _, args := range [][]string{{"--help"}, {"check", "-h"}} {
		code, stdout, _ := sysctlRun(args...)
		if code != 0 || !strings.Contains(stdout, "usage: c1m sysctl check") {
			t.Fatalf("%q: exit %d, stdout %q", args, code, stdout)
		}
	}
}

func TestSysctlCheck(t *testing.T) {
	f := func(args []string, wantCode int, wantOut string) {
		t.Helper()
		code, stdout, stderr := sysctlRun(args...)
		if code != wantCode || !strings.Contains(stdout, wantOut) {
			t.Fatalf("%q: exit %d (want %d), stdout %q, stderr %q; want stdout containing %q", args, code, wantCode, stdout, stderr, wantOut)
		}
	}
	root := sysctlFakeRoot(t, "4096")
	f([]string{"check", "--root", root, "--conns", "1000000"}, 1, "short for 1000000 connections (role server)")
	f([]string{"check", "--root", root, "--conns", "1000000", "--role", "loadgen"}, 1, "16 source addresses")
	// A small target on the fake loadgen box: only tcp_tw_reuse is short.
	f([]string{"check", "--root", root, "--conns", "1000", "--role", "loadgen"}, 1, "1 of 9 settings are short")

	code, stdout, _ := sysctlRun("check", "--root", root, "--conns", "1000", "--json")
	var got struct {
		Conns int
		Role  string
		Short int
		Rows  []struct{ Key, Current, Needed, Status, Fix string }
	}
	if err := json.Unmarshal([]byte(stdout), &got); err != nil {
		t.Fatalf("--json output does not parse: %s\n%s", err, stdout)
	}
	if code != 1 || got.Conns != 1000 || got.Role != "server" || got.Short == 0 || len(got.Rows) == 0 {
		t.Fatalf("--json: exit %d, %+v", code, got)
	}
}

func TestSysctlApplyRevert(t *testing.T) {
	root := sysctlFakeRoot(t, "4096")
	dir := filepath.Join(t.TempDir(), "sysctl.d")
	somaxconn := filepath.Join(root, "proc/sys/net/core/somaxconn")

	code, stdout, stderr := sysctlRun("apply", "--root", root, "--dir", dir, "--dry-run")
	if code != 0 || !strings.Contains(stdout, "net.core.somaxconn = 65535") || !strings.Contains(stdout, "would apply") {
		t.Fatalf("dry run: exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
	if b, _ := os.ReadFile(somaxconn); string(b) != "4096\n" {
		t.Fatalf("dry run wrote somaxconn %q", b)
	}

	code, stdout, stderr = sysctlRun("apply", "--root", root, "--dir", dir)
	if code != 0 || !strings.Contains(stdout, "applied") {
		t.Fatalf("apply: exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
	if b, _ := os.ReadFile(somaxconn); string(b) != "65535\n" {
		t.Fatalf("apply left somaxconn %q", b)
	}
	if _, err := os.Stat(filepath.Join(dir, "60-c1m-server.conf")); err != nil {
		t.Fatalf("apply installed no profile: %s", err)
	}

	code, stdout, stderr = sysctlRun("revert", "--root", root, "--dir", dir, "--json")
	if code != 0 || !strings.Contains(stdout, `"results"`) {
		t.Fatalf("revert: exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
	if b, _ := os.ReadFile(somaxconn); string(b) != "4096\n" {
		t.Fatalf("revert left somaxconn %q", b)
	}
	code, _, stderr = sysctlRun("revert", "--root", root, "--dir", dir)
	if code != 1 || !strings.Contains(stderr, "nothing to revert") {
		t.Fatalf("second revert: exit %d, stderr %q", code, stderr)
	}
}
