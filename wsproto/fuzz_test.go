package wsproto

import (
	"bytes"
	"errors"
	"testing"
)

// FuzzReader feeds arbitrary bytes to a Reader with a small MaxMessage,
// whole and cut at a fuzz-chosen point. It must never panic, every error
// must be a *CloseError with a valid code that the server may send, and the
// cut must not change the events or the error.
func FuzzReader(f *testing.F) {
	f.Add(mf(true, OpText, "hello"), uint16(3))
	f.Add(cat(mf(false, OpText, "he\xc3"), mf(true, OpPing, "p"), mf(true, OpContinuation, "\xa9llo")), uint16(9))
	f.Add(mf(true, OpClose, "\x03\xe8bye"), uint16(1))
	f.Fuzz(func(t *testing.T, data []byte, cut uint16) {
		cfg := &Config{MaxMessage: 300}
		whole, wholeCode := fuzzFeed(t, data, cfg, -1)
		c := int(cut)
		if len(data) > 0 {
			c %= len(data) + 1
		} else {
			c = 0
		}
		split, splitCode := fuzzFeed(t, data, cfg, c)
		if whole != split || wholeCode != splitCode {
			t.Fatalf("cut at %d changes the outcome:\n%s (%d)\nvs\n%s (%d)", c, whole, wholeCode, split, splitCode)
		}
	})
}

func fuzzFeed(t *testing.T, data []byte, cfg *Config, cut int) (string, StatusCode) {
	b := append([]byte(nil), data...)
	var r Reader
	defer r.Reset()
	var s recSink
	parts := [][]byte{b}
	if cut >= 0 {
		parts = [][]byte{b[:cut], b[cut:]}
	}
	for _, p := range parts {
		err := r.Feed(p, cfg, &s)
		if err == nil {
			continue
		}
		var ce *CloseError
		if !errors.As(err, &ce) {
			t.Fatalf("error %T %v is not a *CloseError", err, err)
		}
		switch ce.Code {
		case CloseProtocolError, CloseInvalidPayload, CloseMessageTooBig:
		default:
			t.Fatalf("unexpected close code %d", ce.Code)
		}
		return s.String(), ce.Code
	}
	return s.String(), 0
}

// FuzzHandshake runs arbitrary request bytes through Upgrader.Upgrade. It
// must never panic; a rejection is a *HandshakeError with a 4xx status; the
// response always starts with "HTTP/1.1 ", with 101 exactly on success.
func FuzzHandshake(f *testing.F) {
	f.Add(reqHead("GET /ws HTTP/1.1", okHeaders...))
	f.Add(reqHead("POST /ws HTTP/1.1", okHeaders...))
	f.Add([]byte("\r\n\r\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		u := &Upgrader{
			Path:           "/ws",
			MaxHeaderBytes: 1024,
			OnHeader: func(k, v []byte) error {
				if string(k) == "Origin" && bytes.Contains(v, []byte("evil")) {
					return errors.New("bad origin")
				}
				return nil
			},
			Protocol: func(p []byte) bool { return string(p) == "chat" },
		}
		resp, _, err := u.Upgrade(data, nil)
		if !bytes.HasPrefix(resp, []byte("HTTP/1.1 ")) {
			t.Fatalf("response %q", resp)
		}
		if err == nil {
			if !bytes.HasPrefix(resp, []byte("HTTP/1.1 101 ")) {
				t.Fatalf("success with response %q", resp)
			}
			return
		}
		var he *HandshakeError
		if !errors.As(err, &he) || he.Status < 400 || he.Status > 499 {
			t.Fatalf("error %T %v", err, err)
		}
		if !bytes.HasPrefix(resp[9:], []byte(itoaStatus(he.Status)+" ")) {
			t.Fatalf("status %d, response %q", he.Status, resp)
		}
	})
}
