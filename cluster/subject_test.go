package cluster

import (
	"strings"
	"testing"
	"unicode/utf8"

	"c1m/broadcast"
)

// decodeToken inverts appendToken's literal form (tests only: the
// cluster never needs to decode a subject).
func decodeToken(tok string) (string, bool) {
	var b []byte
	for i := 0; i < len(tok); i++ {
		c := tok[i]
		if c != tokenEscape {
			b = append(b, c)
			continue
		}
		if i+2 >= len(tok) {
			return "", false
		}
		hi, lo := strings.IndexByte(hexDigits, tok[i+1]), strings.IndexByte(hexDigits, tok[i+2])
		if hi < 0 || lo < 0 {
			return "", false
		}
		b = append(b, byte(hi<<4|lo))
		i += 2
	}
	return string(b), true
}

// checkToken asserts what every token must be: one literal NATS
// subject token of bounded length, and the name itself when short.
func checkToken(t *testing.T, name string) string {
	t.Helper()
	tok := string(appendToken(nil, name))
	if tok == "" || len(tok) > MaxTokenLen {
		t.Fatalf("token of %q has length %d", name, len(tok))
	}
	for i := 0; i < len(tok); i++ {
		if c := tok[i]; !plainTokenByte(c) && c != tokenEscape {
			t.Fatalf("token of %q = %q holds %q", name, tok, c)
		}
	}
	if strings.HasPrefix(tok, tokenHashed) {
		if len(tok) != len(tokenHashed)+52 {
			t.Fatalf("hashed token %q of length %d", tok, len(tok))
		}
		return tok
	}
	if back, ok := decodeToken(tok); !ok || back != name {
		t.Fatalf("token %q of %q decodes to %q", tok, name, back)
	}
	return tok
}

func TestToken(t *testing.T) {
	f := func(name, want string) {
		t.Helper()
		if got := checkToken(t, name); want != "" && got != want {
			t.Fatalf("token of %q = %q, want %q", name, got, want)
		}
	}
	f("lobby", "lobby")
	f("Room_1-b", "Room_1-b")
	f("a.b", "a~2eb")
	f("*", "~2a")
	f(">", "~3e")
	f("a b\tc", "a~20b~09c")
	f("~", "~7e")
	f("~7e", "~7e7e")
	f("é", "~c3~a9")
	f("房间", "")
	f("\x00\xff", "~00~ff")
	f(strings.Repeat("a", MaxTokenLen), strings.Repeat("a", MaxTokenLen))
	long := checkToken(t, strings.Repeat("a", MaxTokenLen+1))
	if !strings.HasPrefix(long, tokenHashed) {
		t.Fatalf("a name of %d bytes was not hashed: %q", MaxTokenLen+1, long)
	}
	if checkToken(t, strings.Repeat(".", 22)) == checkToken(t, strings.Repeat(".", 21)+"x") {
		t.Fatal("two long names share a token")
	}
}

func TestSubjects(t *testing.T) {
	s := subjects{prefix: "c1m"}
	f := func(tg broadcast.Target, stored, live string) {
		t.Helper()
		st, err := s.stored(tg)
		if err != nil || st != stored {
			t.Fatalf("stored(%+v) = %q, %v; want %q", tg, st, err, stored)
		}
		lv, err := s.live(tg)
		if err != nil || lv != live {
			t.Fatalf("live(%+v) = %q, %v; want %q", tg, lv, err, live)
		}
	}
	f(broadcast.ToRoom("lobby"), "c1m.s.r.lobby", "c1m.l.r.lobby")
	f(broadcast.ToUser("alice@example.com"), "c1m.s.u.alice~40example~2ecom", "c1m.l.u.alice~40example~2ecom")
	f(broadcast.ToAll(), "c1m.s.a", "c1m.l.a")
	if _, err := s.stored(broadcast.ToRoom("")); err != ErrBadName {
		t.Fatalf("empty room: %v", err)
	}
	if _, err := s.stored(broadcast.Target{Kind: 9, Name: "x"}); err != ErrBadTarget {
		t.Fatalf("bad kind: %v", err)
	}
}

func FuzzToken(f *testing.F) {
	for _, s := range []string{"lobby", "a.b.*", ">", "~~", "房间", strings.Repeat("x.", 40)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		if name == "" {
			return
		}
		tok := checkToken(t, name)
		if !utf8.ValidString(tok) {
			t.Fatalf("token %q is not UTF-8", tok)
		}
	})
}
