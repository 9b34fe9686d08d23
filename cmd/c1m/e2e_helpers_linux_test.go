//go:build linux

package main

// Helpers for the end-to-end tests (e2e_*_linux_test.go): they run the
// real c1m binary through package c1mtest (built once, `c1m serve` in a
// child process on free loopback ports, its /metrics and /proc entries),
// and talk WebSocket to it over raw net.Conns (a hand-written upgrade
// request and a minimal RFC 6455 frame codec), so that 15,000 client
// connections cost no goroutine and no bufio buffer each.

import (
	"os"
	"testing"
	"time"

	"c1m/internal/c1mtest"
)

func TestMain(m *testing.M) {
	code := m.Run()
	c1mtest.Cleanup()
	os.Exit(code)
}

// serveArgs is the command line of `c1m serve` with metrics on maddr:
// no token check and no publish API listener, then args.
func serveArgs(maddr string, args ...string) []string {
	return append([]string{"serve", "--auth=none", "--api-addr=-", "--metrics-addr", maddr}, args...)
}

// startServe starts `c1m serve` with args on free ports (--addr and
// --metrics-addr are added), waits until /livez answers and kills the
// process when the test ends. It retries with other ports if a port was
// taken between FreeAddr and the bind.
func startServe(t testing.TB, args ...string) *c1mtest.Proc {
	t.Helper()
	return c1mtest.Serve(t, func(addr, maddr string) []string {
		return serveArgs(maddr, append([]string{"--addr", addr}, args...)...)
	})
}

// startServeWith starts `c1m serve` with exactly args (plus --metrics-addr)
// and env, expecting the WebSocket listener on addr.
func startServeWith(t testing.TB, addr string, args, env []string) *c1mtest.Proc {
	t.Helper()
	maddr := c1mtest.FreeAddr(t)
	p, err := c1mtest.Start(t, addr, maddr, serveArgs(maddr, args...), env)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// --- WebSocket client: c1mtest.RawClient with deadlines per call ---

// wsConn is the shared raw client; its methods return errors (not fail
// the test), so readers may run in goroutines.
type wsConn struct{ *c1mtest.RawClient }

// dialWS opens a WebSocket connection to addr and path and checks the 101
// response; every read then waits at most timeout.
func dialWS(addr, path string, timeout time.Duration) (*wsConn, error) {
	c, err := c1mtest.DialWS(addr, path, c1mtest.DialOptions{ReadTimeout: timeout})
	if err != nil {
		return nil, err
	}
	return &wsConn{c}, nil
}

// Close closes the connection; it returns nil, for t.Cleanup lines.
func (c *wsConn) Close() error { c.RawClient.Close(); return nil }

// echo sends msg as a text message and waits up to timeout for the same
// text back, skipping (not answering) heartbeat pings.
func (c *wsConn) echo(msg string, timeout time.Duration) error {
	c.SetReadTimeout(timeout)
	return c.Echo(msg)
}

// readClose reads frames until a close frame and returns its code and
// reason; others are skipped without an answer.
func (c *wsConn) readClose(timeout time.Duration) (code int, reason string, err error) {
	c.SetReadTimeout(timeout)
	sc, reason, err := c.ReadClose()
	return int(sc), reason, err
}
