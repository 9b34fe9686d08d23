//go:build linux

package c1mtest

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

var (
	binOnce sync.Once
	binDir  string // temporary directory holding the binary; Cleanup removes it
	binPath string
	binErr  error
)

// Binary builds c1m once per test process (go build -o <tmp>/c1m
// c1m/cmd/c1m) and returns its path; it fails tb if the build fails. It is
// safe for concurrent use. The binary belongs to the package: callers must
// not remove it, and the test binary's TestMain must call Cleanup.
//
// C1M_TEST_BINARY, when set, names a binary to use instead: a benchmark
// can then run against an earlier build for a before-and-after figure
// (the tests themselves always use the tree's own).
func Binary(tb testing.TB) string {
	tb.Helper()
	if p := os.Getenv("C1M_TEST_BINARY"); p != "" {
		if _, ok := tb.(*testing.B); ok {
			return p
		}
	}
	binOnce.Do(func() {
		binDir, binErr = os.MkdirTemp("", "c1mtest-")
		if binErr != nil {
			return
		}
		binPath = filepath.Join(binDir, "c1m")
		goTool, err := exec.LookPath("go")
		if err != nil {
			binErr = fmt.Errorf("cannot find the go tool: %w", err)
			return
		}
		out, err := exec.Command(goTool, "build", "-o", binPath, "c1m/cmd/c1m").CombinedOutput()
		if err != nil {
			binErr = fmt.Errorf("cannot build c1m: %w\n%s", err, out)
		}
	})
	if binErr != nil {
		tb.Fatal(binErr)
	}
	return binPath
}

// Cleanup removes the binary Binary built, if any. Call it from TestMain
// after m.Run returns, when no test can still be using the binary.
func Cleanup() {
	if binDir != "" {
		_ = os.RemoveAll(binDir)
	}
}

// Env is the test process environment without any C1M_* variable, plus
// extra, so that a developer's shell cannot change what a test runs.
func Env(extra ...string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "C1M_") {
			env = append(env, kv)
		}
	}
	return append(env, extra...)
}

// FreeAddrs returns n distinct 127.0.0.1:<port> addresses that were free
// a moment ago: it holds every listener open until all n are chosen, so
// the kernel cannot hand one port out twice, as n calls of FreeAddr can
// (a port closed is the next one offered).
func FreeAddrs(tb testing.TB, n int) []string {
	tb.Helper()
	addrs := make([]string, n)
	for i := range addrs {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			tb.Fatalf("cannot find a free port: %v", err)
		}
		defer ln.Close()
		addrs[i] = ln.Addr().String()
	}
	return addrs
}

// FreeAddr returns 127.0.0.1:<port> for a port that was free a moment ago.
// Another process may take it before the server binds it; Serve retries
// for that case.
func FreeAddr(tb testing.TB) string {
	tb.Helper()
	return FreeAddrs(tb, 1)[0]
}
