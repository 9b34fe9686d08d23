//go:build linux

package c1mtest

import (
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
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
// a moment ago. The ports come from below the kernel's ephemeral range
// (net.ipv4.ip_local_port_range), from a random place in freePortLo up to
// freePortHi: a port from that range is handed out only to a bind that
// names it, so no outgoing connection (a cluster route, an HTTP client,
// of this process or any other) can take one between the pick and the
// server's bind, as it could a port the kernel picked (a port closed is
// the next one an outgoing connect is offered). Every listener is held
// open until all n are chosen, so no port is returned twice.
func FreeAddrs(tb testing.TB, n int) []string {
	tb.Helper()
	lo, hi := freePortLo, min(freePortHi, ephemeralLow())
	if hi-lo < 1000 {
		tb.Fatalf("cannot find free ports: the ephemeral range starts at %d, which leaves fewer than 1,000 ports above %d", hi, lo)
	}
	addrs := make([]string, 0, n)
	start := lo + rand.IntN(hi-lo)
	for i := 0; i < hi-lo && len(addrs) < n; i++ {
		port := lo + (start-lo+i)%(hi-lo)
		ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
		if err != nil {
			continue // taken
		}
		defer ln.Close()
		addrs = append(addrs, ln.Addr().String())
	}
	if len(addrs) < n {
		tb.Fatalf("cannot find %d free ports in %d-%d: %d are free", n, lo, hi-1, len(addrs))
	}
	return addrs
}

// FreeAddrs' ports: below the agents' fixed ports (24100 and up, as are
// the other tests' fixed ports) and above the well-known services.
const (
	freePortLo = 10000
	freePortHi = 24000
)

// ephemeralLow returns the first port of the kernel's ephemeral range
// (32768 when it cannot be read).
func ephemeralLow() int {
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err != nil {
		return 32768
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return 32768
	}
	v, err := strconv.Atoi(f[0])
	if err != nil {
		return 32768
	}
	return v
}

// FreeAddr returns 127.0.0.1:<port> for a port that was free a moment ago.
// Another process may take it before the server binds it; Serve retries
// for that case.
func FreeAddr(tb testing.TB) string {
	tb.Helper()
	return FreeAddrs(tb, 1)[0]
}
