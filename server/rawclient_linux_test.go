//go:build linux

package server

import (
	"encoding/binary"
	"strconv"
	"testing"

	"c1m/internal/c1mtest"
	"c1m/wsproto"
)

// rawClient is c1mtest.RawClient bound to a test: its calls fail the test
// instead of returning errors, so call them from the test's goroutine. It
// counts without allocating (CountOnly), for the allocation tests.
type rawClient struct {
	*c1mtest.RawClient
	t testing.TB
}

var testKey = c1mtest.MaskKey

var upgradeRequest = c1mtest.UpgradeRequest("localhost", DefaultPath)

// dialRaw connects to s without upgrading; the socket closes when the
// test ends.
func dialRaw(t testing.TB, s *Server) *rawClient {
	t.Helper()
	c, err := c1mtest.Dial("127.0.0.1:"+strconv.Itoa(s.Port()), c1mtest.DialOptions{CountOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return &rawClient{RawClient: c, t: t}
}

// dialUpgraded connects and completes the upgrade.
func dialUpgraded(t testing.TB, s *Server) *rawClient {
	t.Helper()
	c := dialRaw(t, s)
	c.upgrade()
	return c
}

func (c *rawClient) got() *c1mtest.Counts { return c.Counts() }

func (c *rawClient) upgrade() {
	c.t.Helper()
	if _, head, err := c.Upgrade(DefaultPath); err != nil {
		c.t.Fatalf("upgrade: %v (%q)", err, head)
	}
}

func (c *rawClient) send(b []byte) {
	c.t.Helper()
	if err := c.Send(b); err != nil {
		c.t.Fatal(err)
	}
}

func (c *rawClient) sendFrame(fin bool, op wsproto.OpCode, payload []byte) {
	c.t.Helper()
	if err := c.SendFrame(fin, op, payload); err != nil {
		c.t.Fatal(err)
	}
}

// readEvent reads until one more message, ping, pong or close arrives; it
// returns false at EOF.
func (c *rawClient) readEvent() bool { return c.ReadEvent() == nil }

func (c *rawClient) expectClose(code wsproto.StatusCode) {
	c.t.Helper()
	if err := c.ExpectClose(code); err != nil {
		c.t.Fatal(err)
	}
}

func be16(v uint16) []byte { return binary.BigEndian.AppendUint16(nil, v) }
