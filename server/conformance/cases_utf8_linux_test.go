//go:build linux

package conformance

import (
	"fmt"
	"unicode/utf8"
)

// utf8Sample is a text payload of Autobahn category 6 (most come from
// Markus Kuhn's "UTF-8 decoder capability and stress test", which Autobahn
// uses too).
type utf8Sample struct {
	group string
	s     string
}

var utf8Samples = []utf8Sample{
	{"empty", ""},
	{"valid", "Hello-µ@ßöäüàá-UTF-8!!"},
	{"valid", "κόσμε"},
	{"valid", "\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5"},
	// κόσμε cut short and with a bad tail (Autobahn 6.3, 6.6).
	{"invalid", "\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xed\xa0\x80\x65\x64\x69\x74\x65\x64"},
	{"invalid", "\xce\xba\xe1\xbd"},
	{"invalid", "\xce\xba\xe1"},
	{"invalid", "\xce"},
	// First possible sequence of each length (Kuhn 2.1).
	{"boundary", "\x00"},
	{"boundary", "\xc2\x80"},
	{"boundary", "\xe0\xa0\x80"},
	{"boundary", "\xf0\x90\x80\x80"},
	// Last possible sequence of each length (Kuhn 2.2).
	{"boundary", "\x7f"},
	{"boundary", "\xdf\xbf"},
	{"boundary", "\xef\xbf\xbf"},
	{"boundary", "\xf4\x8f\xbf\xbf"},
	// Other boundaries (Kuhn 2.3).
	{"boundary", "\xed\x9f\xbf"},
	{"boundary", "\xee\x80\x80"},
	{"boundary", "\xef\xbf\xbd"},
	// Beyond U+10FFFF and 5-, 6-byte forms (no longer UTF-8).
	{"too large", "\xf4\x90\x80\x80"},
	{"too large", "\xf7\xbf\xbf\xbf"},
	{"too large", "\xf8\x88\x80\x80\x80"},
	{"too large", "\xfb\xbf\xbf\xbf\xbf"},
	{"too large", "\xfc\x84\x80\x80\x80\x80"},
	{"too large", "\xfd\xbf\xbf\xbf\xbf\xbf"},
	// Unexpected continuation bytes (Kuhn 3.1).
	{"continuation", "\x80"},
	{"continuation", "\xbf"},
	{"continuation", "\x80\xbf"},
	{"continuation", "\x80\xbf\x80"},
	{"continuation", "\x80\xbf\x80\xbf"},
	{"continuation", "\x80\xbf\x80\xbf\x80"},
	{"continuation", "\x80\xbf\x80\xbf\x80\xbf"},
	{"continuation", "\x80\xbf\x80\xbf\x80\xbf\x80"},
	{"continuation", "a\x80b"},
	// Lonely start bytes followed by a space (Kuhn 3.2).
	{"lonely start", "\xc0 \xc1 "},
	{"lonely start", "\xc2 \xdf "},
	{"lonely start", "\xe0 \xef "},
	{"lonely start", "\xf0 \xf7 "},
	{"lonely start", "\xf8 \xfb "},
	{"lonely start", "\xfc \xfd "},
	// Sequences with the last continuation byte missing (Kuhn 3.3).
	{"truncated", "\xc0"},
	{"truncated", "\xe0\x80"},
	{"truncated", "\xf0\x80\x80"},
	{"truncated", "\xdf"},
	{"truncated", "\xef\xbf"},
	{"truncated", "\xf4\x8f\xbf"},
	{"truncated", "Hello\xe2\x82"},
	{"truncated", "\xf0\x9f\x98"},
	// Concatenation of incomplete sequences (Kuhn 3.4).
	{"truncated", "\xc0\xe0\x80\xf0\x80\x80\xf8\x80\x80\x80\xfc\x80\x80\x80\x80\xdf\xef\xbf\xf7\xbf\xbf\xfb\xbf\xbf\xbf\xfd\xbf\xbf\xbf\xbf"},
	// Impossible bytes (Kuhn 3.5).
	{"impossible", "\xfe"},
	{"impossible", "\xff"},
	{"impossible", "\xfe\xfe\xff\xff"},
	// Overlong forms of '/' and of NUL, and the largest overlongs (Kuhn 4).
	{"overlong", "\xc0\xaf"},
	{"overlong", "\xe0\x80\xaf"},
	{"overlong", "\xf0\x80\x80\xaf"},
	{"overlong", "\xf8\x80\x80\x80\xaf"},
	{"overlong", "\xfc\x80\x80\x80\x80\xaf"},
	{"overlong", "\xc1\xbf"},
	{"overlong", "\xe0\x9f\xbf"},
	{"overlong", "\xf0\x8f\xbf\xbf"},
	{"overlong", "\xc0\x80"},
	{"overlong", "\xe0\x80\x80"},
	{"overlong", "\xf0\x80\x80\x80"},
	// UTF-16 surrogates, single and paired (Kuhn 5.1, 5.2).
	{"surrogate", "\xed\xa0\x80"},
	{"surrogate", "\xed\xad\xbf"},
	{"surrogate", "\xed\xae\x80"},
	{"surrogate", "\xed\xaf\xbf"},
	{"surrogate", "\xed\xb0\x80"},
	{"surrogate", "\xed\xbe\x80"},
	{"surrogate", "\xed\xbf\xbf"},
	{"surrogate", "\xed\xa0\x80\xed\xb0\x80"},
	{"surrogate", "\xed\xaf\xbf\xed\xbf\xbf"},
	{"surrogate", "\xed\xa0\x80\xed\xbf\xbf"},
	// Noncharacters are valid UTF-8 (Kuhn 5.3; Unicode Corrigendum #9).
	{"noncharacter", "\xef\xbf\xbe"},
	{"noncharacter", "\xef\xbf\xbf"},
	{"noncharacter", "\xef\xb7\x90\xef\xb7\xaf"},
	{"noncharacter", "\xf0\x9f\xbf\xbe\xf0\x9f\xbf\xbf\xf4\x8f\xbf\xbe"},
	// Everyday text.
	{"valid", "\xe2\x82\xac"},
	{"valid", "𐍈 ☃ 日本語 😀 \U0010FFFF"},
	{"valid", "a\xf0\x9f\x98\x80b"},
	// The invalid byte late in a long text (fail fast matters here).
	{"invalid", "0123456789abcdefghijklmnopqrstuvwxyz0123456789\xffABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"},
	{"invalid", "κόσμε κόσμε κόσμε \xf4\x90\x80\x80 κόσμε κόσμε κόσμε"},
}

// utf8Cases is Autobahn category 6. RFC 6455 §5.6: "The "Payload data" is
// text data encoded as UTF-8."; §8.1: "When an endpoint is to interpret a
// byte stream as UTF-8 but finds that the byte stream is not, in fact, a
// valid UTF-8 stream, that endpoint MUST _Fail the WebSocket Connection_."
// with 1007 (§7.4.1: "data within a message that was not consistent with
// the type of the message (e.g., non-UTF-8 [RFC3629] data within a text
// message)").
//
// Every sample goes three ways: (a) one frame in one write, (b) one frame
// per byte (each fragment ends inside a code point), (c) one frame written
// byte by byte. For (b) and (c) an invalid sample is a fail-fast case: the
// bytes up to the first one that no continuation can repair are sent, and
// the close must come before the rest (Autobahn 6.4).
func utf8Cases() []*wsCase {
	cs := []*wsCase{
		{id: "6.1.1", rfc: "§5.6", desc: "empty text message: echo",
			parts: []part{send(text(""))}, echo: []event{echoText("")}, open: true},
		{id: "6.1.2", rfc: "§5.4, §5.6", desc: "text of three empty fragments: echo",
			parts: []part{send(frag(false, opText, nil), frag(false, opCont, nil), frag(true, opCont, nil))}, echo: []event{echoText("")}, open: true},
		{id: "6.1.3", rfc: "§5.4, §5.6", desc: "empty, non-empty, empty fragments: echo",
			parts: []part{send(frag(false, opText, nil), frag(false, opCont, []byte("middle frame payload")), frag(true, opCont, nil))}, echo: []event{echoText("middle frame payload")}, open: true},
	}
	// Autobahn 6.4.1-6.4.4, the classic fail-fast cases.
	k := "\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5"
	cs = append(cs,
		&wsCase{id: "6.4.1", rfc: "§8.1", desc: "3 fragments: valid, U+110000 (invalid), valid: fail 1007 before the 3rd",
			parts: []part{send(frag(false, opText, []byte(k))), failing(send(frag(false, opCont, []byte("\xf4\x90\x80\x80")))), send(frag(true, opCont, []byte("edited")))},
			codes: codesOf(1007)},
		&wsCase{id: "6.4.2", rfc: "§8.1", desc: "3 fragments, the 2nd a single byte 0x90 after 0xF4: fail 1007 before the 3rd",
			parts: []part{send(frag(false, opText, []byte(k+"\xf4"))), failing(send(frag(false, opCont, []byte("\x90")))), send(frag(true, opCont, []byte("\x80\x80edited")))},
			codes: codesOf(1007)},
		&wsCase{id: "6.4.3", rfc: "§8.1", desc: "1 frame in 3 writes, the invalid bytes in the 2nd: fail 1007 before the 3rd",
			parts: chopAt(fr(opText, []byte(k+"\xf4\x90\x80\x80edited")), 6+len(k), 6+len(k)+4), codes: codesOf(1007)},
		&wsCase{id: "6.4.4", rfc: "§8.1", desc: "1 frame in 3 writes, the 2nd is the single byte 0x90: fail 1007 before the 3rd",
			parts: chopAt(fr(opText, []byte(k+"\xf4\x90\x80\x80edited")), 6+len(k)+1, 6+len(k)+2), codes: codesOf(1007)},
	)
	for i, smp := range utf8Samples {
		p := []byte(smp.s)
		valid := utf8.Valid(p)
		verdict := "echo"
		if !valid {
			verdict = "fail 1007"
		}
		mk := func(variant, how string, parts []part) *wsCase {
			c := &wsCase{id: fmt.Sprintf("6.%d.%s", i+5, variant), rfc: "§5.6, §8.1",
				desc:  fmt.Sprintf("%s %q %s: %s", smp.group, shorten(smp.s), how, verdict),
				parts: parts}
			if valid {
				c.echo, c.open = []event{echoTextB(p)}, true
			} else {
				c.codes = codesOf(1007)
			}
			return c
		}
		cs = append(cs, mk("1", "in one frame", []part{send(fr(opText, p))}))
		failAt := utf8FailAt(p)
		// (b) one fragment per byte.
		fs := fragments(opText, p, 1)
		var b []part
		if !valid && failAt <= len(p) && len(fs) > failAt {
			b = []part{failing(send(fs[:failAt]...)), send(fs[failAt:]...)}
		} else {
			b = []part{send(fs...)}
		}
		cs = append(cs, mk("2", "one fragment per byte", b))
		// (c) one frame written byte by byte.
		f := fr(opText, p)
		var c []part
		if !valid && failAt < len(p) {
			cut := f.headerLen() + failAt
			c = []part{failing(part{data: f.wire()[:cut], chop: 1}), {data: f.wire()[cut:], chop: 1}}
		} else {
			c = []part{chopped(1, f)}
		}
		cs = append(cs, mk("3", "in one frame written byte by byte", c))
	}
	return cs
}

// chopAt writes f in three writes, cut at a and b; the close must come
// after the second (a fail-fast case).
func chopAt(f frame, a, b int) []part {
	w := f.wire()
	return []part{{data: w[:a]}, failing(part{data: w[a:b]}), {data: w[b:]}}
}

func shorten(s string) string {
	if len(s) > 24 {
		return s[:24] + "…"
	}
	return s
}
