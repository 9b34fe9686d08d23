package baseline

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strconv"
	"sync"
	"testing"

	"c1m/broadcast"
)

// recorder is a broadcast.Sender that keeps what it is sent.
type recorder struct {
	mu     sync.Mutex
	frames [][]byte
}

func (r *recorder) Send(_ broadcast.ConnID, frame []byte) error {
	r.mu.Lock()
	r.frames = append(r.frames, frame)
	r.mu.Unlock()
	return nil
}

func (r *recorder) CloseSlow(broadcast.ConnID) {}

// payload strips a server text frame's 2- or 4-byte header.
func payload(t *testing.T, f []byte) []byte {
	t.Helper()
	if len(f) < 2 || f[0] != 0x81 || f[1]&0x80 != 0 {
		t.Fatalf("not an unmasked final text frame: % x", f[:min(len(f), 4)])
	}
	switch n := int(f[1]); {
	case n < 126:
		if len(f) != 2+n {
			t.Fatalf("frame of %d bytes says %d", len(f), n)
		}
		return f[2:]
	case n == 126:
		if m := int(f[2])<<8 | int(f[3]); len(f) != 4+m {
			t.Fatalf("frame of %d bytes says %d", len(f), m)
		}
		return f[4:]
	}
	t.Fatalf("unexpected length byte %d", f[1])
	return nil
}

// TestMessageMatchesBroadcast checks that the baseline's frame is what
// c1m's broadcast package sends to everyone: same fields and values, and
// with the same ts, the same bytes.
func TestMessageMatchesBroadcast(t *testing.T) {
	f := func(data string) {
		t.Helper()
		rec := &recorder{}
		h, err := broadcast.New(broadcast.Config{MaxFDs: 8}, rec)
		if err != nil {
			t.Fatal(err)
		}
		defer h.Close()
		if err := h.Register(broadcast.ConnID{FD: 3, Gen: 1}, ""); err != nil {
			t.Fatal(err)
		}
		seq, targets, err := h.PublishWait(broadcast.ToAll(), "api", []byte(data))
		if err != nil || targets != 1 || len(rec.frames) != 1 {
			t.Fatalf("PublishWait: seq %d, targets %d, frames %d, err %v", seq, targets, len(rec.frames), err)
		}
		want := payload(t, rec.frames[0])
		var wantFields map[string]json.RawMessage
		if err := json.Unmarshal(want, &wantFields); err != nil {
			t.Fatalf("broadcast frame %s: %v", want, err)
		}
		ts, err := strconv.ParseInt(string(wantFields["ts"]), 10, 64)
		if err != nil {
			t.Fatalf("broadcast ts %s: %v", wantFields["ts"], err)
		}

		frame := encodeMessage(seq, nowMillis(), []byte(data))
		got := payload(t, frame)
		var gotFields map[string]json.RawMessage
		if err := json.Unmarshal(got, &gotFields); err != nil {
			t.Fatalf("baseline frame %s: %v", got, err)
		}
		delete(wantFields, "ts")
		if _, ok := gotFields["ts"]; !ok {
			t.Fatalf("baseline frame %s has no ts", got)
		}
		delete(gotFields, "ts")
		if !reflect.DeepEqual(gotFields, wantFields) {
			t.Fatalf("fields differ:\n baseline  %s\n broadcast %s", got, want)
		}
		if same := encodeMessage(seq, ts, []byte(data)); !bytes.Equal(same, rec.frames[0]) {
			t.Fatalf("with the same ts, frames differ:\n baseline  %q\n broadcast %q", same, rec.frames[0])
		}
	}
	f(`{"n":1}`)
	f(`"héllo \"world\""`)
	f(`[1,2.5,null,true,{"a":[]}]`)
	f(`{"pad":"` + string(bytes.Repeat([]byte("x"), 300)) + `"}`) // 16-bit length
}

func TestFrameHeader(t *testing.T) {
	f := func(n int, wantHeader []byte) {
		t.Helper()
		b := make([]byte, maxHeader+n)
		got := frameInPlace(b)
		if len(got) != len(wantHeader)+n || !bytes.Equal(got[:len(wantHeader)], wantHeader) {
			t.Fatalf("payload %d: header % x, want % x", n, got[:min(len(got), 10)], wantHeader)
		}
	}
	f(0, []byte{0x81, 0})
	f(125, []byte{0x81, 125})
	f(126, []byte{0x81, 126, 0, 126})
	f(65535, []byte{0x81, 126, 0xff, 0xff})
	f(65536, []byte{0x81, 127, 0, 0, 0, 0, 0, 1, 0, 0})
}
