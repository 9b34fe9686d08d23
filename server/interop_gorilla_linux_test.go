//go:build linux

package server

import (
	"bytes"
	"testing"
	"time"

	"c1m/internal/c1mtest"

	"github.com/gorilla/websocket"
)

// echoSizes are the payload sizes around every length-encoding boundary of
// RFC 6455 §5.2 (7-bit, 16-bit, 64-bit), up to the default 64 KiB limit.
var echoSizes = []int{0, 125, 126, 65535, 65536}

func TestGorillaEcho(t *testing.T) {
	s := startServer(t, Config{})
	c, resp, err := websocket.DefaultDialer.Dial(wsURL(s), nil)
	if err != nil {
		t.Fatalf("dial: %v (resp %v)", err, resp)
	}
	defer c.Close()
	for _, n := range echoSizes {
		for _, op := range []int{websocket.TextMessage, websocket.BinaryMessage} {
			msg := bytes.Repeat([]byte("a"), n)
			if err := c.WriteMessage(op, msg); err != nil {
				t.Fatalf("write %d: %v", n, err)
			}
			gotOp, got, err := c.ReadMessage()
			if err != nil {
				t.Fatalf("read %d: %v", n, err)
			}
			if gotOp != op || !bytes.Equal(got, msg) {
				t.Fatalf("echo of %d bytes op %d: got op %d, %d bytes", n, op, gotOp, len(got))
			}
		}
	}
	// Fragmented: gorilla's NextWriter splits a message into frames at its
	// write buffer size; a 1 KiB buffer makes a 64 KiB message 64 frames.
	d := websocket.Dialer{WriteBufferSize: 1024}
	c2, _, err := d.Dial(wsURL(s), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	for _, n := range echoSizes {
		msg := bytes.Repeat([]byte("é"), n/2)
		w, err := c2.NextWriter(websocket.TextMessage)
		if err != nil {
			t.Fatal(err)
		}
		for i := 0; i < len(msg); i += 700 {
			_, _ = w.Write(msg[i:min(i+700, len(msg))])
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		_, got, err := c2.ReadMessage()
		if err != nil || !bytes.Equal(got, msg) {
			t.Fatalf("fragmented echo of %d bytes: %d bytes, %v", len(msg), len(got), err)
		}
	}
	// Ping → pong with the same payload.
	pong := make(chan string, 1)
	c.SetPongHandler(func(p string) error { pong <- p; return nil })
	if err := c.WriteControl(websocket.PingMessage, []byte("hello"), time.Now().Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	go func() { _, _, _ = c.ReadMessage() }()
	select {
	case p := <-pong:
		if p != "hello" {
			t.Fatalf("pong payload %q", p)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no pong")
	}
}

func TestGorillaCloseHandshake(t *testing.T) {
	s := startServer(t, Config{})
	c, _, err := websocket.DefaultDialer.Dial(wsURL(s), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	msg := websocket.FormatCloseMessage(websocket.CloseNormalClosure, "bye")
	if err := c.WriteControl(websocket.CloseMessage, msg, time.Now().Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	_, _, err = c.ReadMessage()
	if !websocket.IsCloseError(err, websocket.CloseNormalClosure) {
		t.Fatalf("after our close: %v, want the server's close 1000", err)
	}
	c1mtest.Eventually(t, 5*time.Second, func() bool { return s.Stats().Sockets == 0 }, c1mtest.Say("server to free the socket"))
}

func TestMessageTooBigClose(t *testing.T) {
	s := startServer(t, Config{MaxMessage: 1000})
	c, _, err := websocket.DefaultDialer.Dial(wsURL(s), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.WriteMessage(websocket.BinaryMessage, make([]byte, 1001)); err != nil {
		t.Fatal(err)
	}
	_, _, err = c.ReadMessage()
	if !websocket.IsCloseError(err, websocket.CloseMessageTooBig) {
		t.Fatalf("got %v, want close 1009", err)
	}
}
