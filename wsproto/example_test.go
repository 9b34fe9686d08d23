package wsproto_test

import (
	"errors"
	"fmt"

	"c1m/wsproto"
)

// echoSink answers pings and echoes messages and closes into out, as an
// event loop would before writing out to the socket.
type echoSink struct {
	out []byte
}

func (s *echoSink) OnMessage(op wsproto.OpCode, payload []byte) error {
	fmt.Printf("%s message %q\n", op, payload)
	s.out = wsproto.AppendFrame(s.out, true, op, payload)
	return nil
}

func (s *echoSink) OnPing(payload []byte) error {
	s.out = wsproto.AppendFrame(s.out, true, wsproto.OpPong, payload)
	return nil
}

func (s *echoSink) OnPong([]byte) error { return nil }

func (s *echoSink) OnClose(code wsproto.StatusCode, reason []byte) error {
	fmt.Printf("close %d %q\n", code, reason)
	s.out = wsproto.AppendClose(s.out, code, "")
	return nil
}

func Example() {
	// The handshake, over a request head read from the socket.
	u := &wsproto.Upgrader{Path: "/ws"}
	req := []byte("GET /ws HTTP/1.1\r\nHost: example.com\r\nUpgrade: websocket\r\n" +
		"Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n" +
		"Sec-WebSocket-Version: 13\r\n\r\n")
	resp, _, err := u.Upgrade(req[:wsproto.RequestEnd(req)], nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("%.32s\n", resp)

	// Frames from the client, arriving in two reads that split a frame.
	key := [4]byte{1, 2, 3, 4}
	var stream []byte
	stream = wsproto.AppendMaskedFrame(stream, false, wsproto.OpText, []byte("hel"), key)
	stream = wsproto.AppendMaskedFrame(stream, true, wsproto.OpPing, nil, key)
	stream = wsproto.AppendMaskedFrame(stream, true, wsproto.OpContinuation, []byte("lo"), key)
	stream = wsproto.AppendMaskedFrame(stream, true, wsproto.OpClose, []byte{0x03, 0xe8}, key)

	cfg := &wsproto.Config{MaxMessage: 4096}
	var r wsproto.Reader
	defer r.Reset()
	sink := &echoSink{}
	for _, read := range [][]byte{stream[:5], stream[5:]} {
		if err := r.Feed(read, cfg, sink); err != nil {
			var ce *wsproto.CloseError
			if errors.As(err, &ce) {
				sink.out = wsproto.AppendClose(sink.out, ce.Code, ce.Reason)
			}
			break
		}
	}
	fmt.Printf("idle %v, %d bytes to write\n", r.Idle(), len(sink.out))
	// Output:
	// HTTP/1.1 101 Switching Protocols
	// text message "hello"
	// close 1000 ""
	// idle true, 13 bytes to write
}
