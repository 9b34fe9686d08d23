//go:build linux

package conformance

import (
	"testing"

	"c1m/internal/c1mtest"
)

// server is a running `c1m serve --handler=echo` child process (see
// c1mtest.Proc) and the test that owns it.
type server struct {
	*c1mtest.Proc
	t testing.TB
}

// startServer runs `c1m serve --handler=echo` with args on free loopback
// ports, waits for /livez and kills the process when the test ends. A port
// taken between FreeAddr and the bind is retried with another.
func startServer(t testing.TB, args ...string) *server {
	t.Helper()
	p := c1mtest.Serve(t, func(addr, maddr string) []string {
		// --auth=none: the suite tests RFC 6455, not the token check;
		// --api-addr -: no publish API listener (its fixed default port
		// would collide between parallel servers).
		return append([]string{"serve", "--handler=echo", "--auth=none", "--api-addr", "-",
			"--addr", addr, "--metrics-addr", maddr, "--log-level", "warn"}, args...)
	})
	return &server{Proc: p, t: t}
}
