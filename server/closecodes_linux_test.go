//go:build linux

package server

import (
	"context"
	"errors"
	"testing"
	"time"

	"c1m/wsproto"
)

// policyHandler closes with 1008 on a message "forbidden" and fails with a
// plain error (→ 1011) on "boom"; everything else is echoed.
type policyHandler struct{ Echo }

func (policyHandler) OnMessage(c Conn, op wsproto.OpCode, p []byte) error {
	switch string(p) {
	case "forbidden":
		return &wsproto.CloseError{Code: wsproto.ClosePolicyViolation, Reason: "forbidden"}
	case "boom":
		return errors.New("handler exploded")
	}
	return c.WriteMessage(op, p)
}

// TestCloseCodes shows, for every close code the server sends, the input
// that triggers it, and that the server goes on serving another client.
func TestCloseCodes(t *testing.T) {
	s := startServer(t, Config{Handler: policyHandler{}, MaxMessage: 1024})
	bystander := dialUpgraded(t, s)
	f := func(name string, code wsproto.StatusCode, act func(c *rawClient)) {
		t.Helper()
		c := dialUpgraded(t, s)
		act(c)
		c.expectClose(code)
		c.Close()
		// The rest of the server is unaffected.
		bystander.sendFrame(true, wsproto.OpText, []byte(name))
		if !bystander.readEvent() || string(bystander.got().Last) != name {
			t.Fatalf("%s: bystander echo failed: %q", name, bystander.got().Last)
		}
	}
	// 1000: the client closes normally; the server echoes the code.
	f("normal", wsproto.CloseNormal, func(c *rawClient) { c.sendFrame(true, wsproto.OpClose, be16(1000)) })
	// 1000 also answers a close frame with no status code (RFC 6455 §7.1.5).
	f("empty close", wsproto.CloseNormal, func(c *rawClient) { c.sendFrame(true, wsproto.OpClose, nil) })
	// 1002: an unmasked client frame (RFC 6455 §5.1).
	f("unmasked", wsproto.CloseProtocolError, func(c *rawClient) { c.send([]byte{0x81, 0x02, 'h', 'i'}) })
	// 1002: reserved bits and opcodes.
	f("rsv", wsproto.CloseProtocolError, func(c *rawClient) {
		fr := wsproto.AppendMaskedFrame(nil, true, wsproto.OpText, []byte("x"), testKey)
		fr[0] |= 0x40
		c.send(fr)
	})
	f("opcode", wsproto.CloseProtocolError, func(c *rawClient) { c.sendFrame(true, 0x3, []byte("x")) })
	// 1007: invalid UTF-8 in a text message.
	f("utf8", wsproto.CloseInvalidPayload, func(c *rawClient) { c.sendFrame(true, wsproto.OpText, []byte{0xff, 0xfe}) })
	// 1008: the handler refuses a message by policy.
	f("policy", wsproto.ClosePolicyViolation, func(c *rawClient) { c.sendFrame(true, wsproto.OpText, []byte("forbidden")) })
	// 1009: a message over MaxMessage, announced in one frame header...
	f("too big", wsproto.CloseMessageTooBig, func(c *rawClient) { c.sendFrame(true, wsproto.OpBinary, make([]byte, 1025)) })
	// ...or grown by fragments past it.
	f("fragments too big", wsproto.CloseMessageTooBig, func(c *rawClient) {
		c.sendFrame(false, wsproto.OpBinary, make([]byte, 600))
		c.sendFrame(true, wsproto.OpContinuation, make([]byte, 600))
	})
	// 1011: the handler fails.
	f("internal", wsproto.CloseInternalError, func(c *rawClient) { c.sendFrame(true, wsproto.OpText, []byte("boom")) })

	// 1001: the server drains.
	c := dialUpgraded(t, s)
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = s.Shutdown(context.Background())
	}()
	c.expectClose(wsproto.CloseGoingAway)
	if string(c.got().CloseReason) != DrainReason {
		t.Fatalf("drain close reason %q, want %q", c.got().CloseReason, DrainReason)
	}
	c.Close()
	bystander.Close()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Shutdown did not return")
	}
}
