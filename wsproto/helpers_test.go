package wsproto

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

// testKey is the masking key of client frames in tests.
var testKey = [4]byte{0x37, 0xfa, 0x21, 0x3d}

// mf returns a masked (client) frame.
func mf(fin bool, op OpCode, payload string) []byte {
	return AppendMaskedFrame(nil, fin, op, []byte(payload), testKey)
}

// cat concatenates frames into one stream.
func cat(frames ...[]byte) []byte {
	var b []byte
	for _, f := range frames {
		b = append(b, f...)
	}
	return b
}

// recSink records Sink calls as strings.
type recSink struct {
	events []string
}

func (s *recSink) OnMessage(op OpCode, payload []byte) error {
	s.events = append(s.events, fmt.Sprintf("%s:%q", op, payload))
	return nil
}

func (s *recSink) OnPing(payload []byte) error {
	s.events = append(s.events, fmt.Sprintf("ping:%q", payload))
	return nil
}

func (s *recSink) OnPong(payload []byte) error {
	s.events = append(s.events, fmt.Sprintf("pong:%q", payload))
	return nil
}

func (s *recSink) OnClose(code StatusCode, reason []byte) error {
	s.events = append(s.events, fmt.Sprintf("close:%d:%q", code, reason))
	return nil
}

func (s *recSink) String() string { return strings.Join(s.events, " ") }

// nopSink discards everything; it does not allocate.
type nopSink struct{}

func (nopSink) OnMessage(OpCode, []byte) error   { return nil }
func (nopSink) OnPing([]byte) error              { return nil }
func (nopSink) OnPong([]byte) error              { return nil }
func (nopSink) OnClose(StatusCode, []byte) error { return nil }

// feedChunks feeds a copy of stream to a fresh Reader, cut at the given
// offsets, and returns the events and the close code of the error (0 for
// none).
func feedChunks(t testing.TB, stream []byte, cfg *Config, cuts ...int) (string, StatusCode) {
	t.Helper()
	b := append([]byte(nil), stream...)
	var r Reader
	defer r.Reset()
	var s recSink
	prev := 0
	for _, c := range append(cuts, len(b)) {
		if err := r.Feed(b[prev:c], cfg, &s); err != nil {
			var ce *CloseError
			if !errors.As(err, &ce) {
				t.Fatalf("unexpected error type %T: %v", err, err)
			}
			return s.String(), ce.Code
		}
		prev = c
	}
	return s.String(), 0
}

// skipUnderRace skips allocation-count tests under the race detector.
func skipUnderRace(t *testing.T) {
	t.Helper()
	if raceEnabled {
		t.Skip("allocation counts differ under -race")
	}
}
