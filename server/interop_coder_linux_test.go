//go:build linux

package server

import (
	"bytes"
	"context"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"c1m/internal/c1mtest"

	"github.com/coder/websocket"
)

// TestCoderInterop runs github.com/coder/websocket, a client written
// independently of this server, against the echo handler: every size of
// echoSizes as text and binary, whole and fragmented, then a ping and the
// close handshake.
func TestCoderInterop(t *testing.T) {
	s := startServer(t, Config{})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	var wire atomic.Int64 // bytes the client wrote to its socket
	pongs := make(chan string, 8)
	c, resp, err := websocket.Dial(ctx, wsURL(s), &websocket.DialOptions{
		HTTPClient:     &http.Client{Transport: &http.Transport{DialContext: countingDialer(&wire)}},
		OnPongReceived: func(_ context.Context, p []byte) { pongs <- string(p) },
	})
	if err != nil {
		t.Fatalf("dial: %v (resp %v)", err, resp)
	}
	defer func() { _ = c.CloseNow() }()
	// coder's default read limit is 32 KiB; the largest echo is 64 KiB.
	c.SetReadLimit(1 << 20)

	expectEcho := func(typ websocket.MessageType, want []byte, how string) {
		t.Helper()
		gotTyp, got, err := c.Read(ctx)
		if err != nil {
			t.Fatalf("%s echo of %d bytes (%v): read: %v", how, len(want), typ, err)
		}
		if gotTyp != typ || !bytes.Equal(got, want) {
			t.Fatalf("%s echo of %d bytes (%v): got %v, %d bytes", how, len(want), typ, gotTyp, len(got))
		}
	}
	for _, n := range echoSizes {
		for _, typ := range []websocket.MessageType{websocket.MessageText, websocket.MessageBinary} {
			msg := interopPayload(typ == websocket.MessageText, n)
			if err := c.Write(ctx, typ, msg); err != nil {
				t.Fatalf("write %d bytes (%v): %v", n, typ, err)
			}
			expectEcho(typ, msg, "whole")

			// Fragmented. coder's Writer does not buffer a message: every
			// Write is sent as its own frame (FIN clear, opcode then
			// continuation) and Close adds an empty frame with FIN set
			// (msgWriter.write and Close in its write.go). The byte count
			// on the socket proves it: one header per Write plus one.
			frags := interopFragments(msg)
			before := wire.Load()
			w, err := c.Writer(ctx, typ)
			if err != nil {
				t.Fatal(err)
			}
			for _, f := range frags {
				if _, err := w.Write(f); err != nil {
					t.Fatalf("write fragment of %d bytes: %v", len(f), err)
				}
			}
			if err := w.Close(); err != nil {
				t.Fatal(err)
			}
			if got, want := wire.Load()-before, clientWireBytes(append(frags, nil)); got != want {
				t.Fatalf("fragmented %d bytes in %d writes: client wrote %d bytes, want %d (%d masked frames)",
					n, len(frags), got, want, len(frags)+1)
			}
			expectEcho(typ, msg, "fragmented")
		}
	}

	// Ping → pong with the same payload. Ping waits for a pong that a
	// concurrent Read processes, so a Read runs meanwhile and ends on the
	// next echo. coder's Ping payload is its ping counter in decimal
	// (conn.go), "1" for the first.
	type result struct {
		typ  websocket.MessageType
		data []byte
		err  error
	}
	done := make(chan result, 1)
	go func() {
		typ, data, err := c.Read(ctx)
		done <- result{typ, data, err}
	}()
	pctx, pcancel := context.WithTimeout(ctx, 5*time.Second)
	err = c.Ping(pctx)
	pcancel()
	if err != nil {
		t.Fatalf("ping: %v", err)
	}
	select {
	case p := <-pongs:
		if p != "1" {
			t.Fatalf("pong payload %q, want %q", p, "1")
		}
	default:
		t.Fatal("Ping returned but no pong was seen")
	}
	if err := c.Write(ctx, websocket.MessageText, []byte("after ping")); err != nil {
		t.Fatal(err)
	}
	if r := <-done; r.err != nil || r.typ != websocket.MessageText || string(r.data) != "after ping" {
		t.Fatalf("echo after ping: %v %q %v", r.typ, r.data, r.err)
	}

	// Close returns nil only when the peer's close frame carries the code
	// we sent (closeHandshake in its close.go): here the server's 1000.
	if err := c.Close(websocket.StatusNormalClosure, "bye"); err != nil {
		t.Fatalf("close handshake: %v, want the server's close 1000", err)
	}
	c1mtest.Eventually(t, 5*time.Second, func() bool { return s.Stats().Sockets == 0 }, c1mtest.Say("server to free the socket"))
}

// interopPayload returns n bytes to echo. Text is valid UTF-8 made of
// two-byte "é" (an "a" pads an odd n), so a fragment boundary at an odd
// offset splits a code point, which RFC 6455 §5.6 allows: only the whole
// message must be valid UTF-8. Binary cycles through 251 values so that
// reordered or repeated fragments cannot go unnoticed.
func interopPayload(text bool, n int) []byte {
	if text {
		return []byte(strings.Repeat("é", n/2) + strings.Repeat("a", n%2))
	}
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i % 251)
	}
	return b
}

// interopFragments splits p as the Python and Node clients in
// testdata/interop do: a 1-byte first fragment (half of a code point in
// text), then halves of the rest, or 4093-byte pieces (odd, so they keep
// splitting code points) past 8 KiB. An empty p gives two empty fragments.
func interopFragments(p []byte) [][]byte {
	if len(p) == 0 {
		return [][]byte{{}, {}}
	}
	frags := [][]byte{p[:1]}
	rest := p[1:]
	size := 4093
	if len(p) <= 8192 {
		size = max(1, (len(rest)+1)/2)
	}
	for len(rest) > 0 {
		k := min(size, len(rest))
		frags = append(frags, rest[:k])
		rest = rest[k:]
	}
	return frags
}

// clientWireBytes is the size on the wire of one masked client frame per
// payload (RFC 6455 §5.2: 2 header bytes, 2 or 8 more for the extended
// length, 4 of masking key).
func clientWireBytes(payloads [][]byte) int64 {
	var total int64
	for _, p := range payloads {
		n := 2 + 4 + len(p)
		switch {
		case len(p) > 65535:
			n += 8
		case len(p) > 125:
			n += 2
		}
		total += int64(n)
	}
	return total
}

// countingDialer dials TCP and adds every byte written to the connection
// to n.
func countingDialer(n *atomic.Int64) func(ctx context.Context, network, addr string) (net.Conn, error) {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := (&net.Dialer{}).DialContext(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		return countingConn{Conn: c, n: n}, nil
	}
}

type countingConn struct {
	net.Conn
	n *atomic.Int64
}

func (c countingConn) Write(p []byte) (int, error) {
	k, err := c.Conn.Write(p)
	c.n.Add(int64(k))
	return k, err
}
