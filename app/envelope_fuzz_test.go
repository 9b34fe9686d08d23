package app

import (
	"bytes"
	"encoding/json"
	"strconv"
	"testing"
	"unicode/utf8"
)

// FuzzEnvelope checks parseEnvelope against encoding/json. parseEnvelope
// must not panic on anything json.Valid accepts (that is all the App hands
// it). For an object whose top-level keys are unique and whose text is
// valid UTF-8 (a text frame that is not is closed with 1007 before the App
// sees it), it must fail exactly when a field it reads has the wrong JSON
// type, and otherwise extract what encoding/json decodes: type, room and
// to as strings (escapes resolved), room's raw token, id and data as raw
// values, presence as a boolean. Keys are compared as JSON strings, so
// "typ\u0065" is "type" (RFC 8259 §8.3).
//
// Seeds: testdata/fuzz/FuzzEnvelope. Run: go test -fuzz FuzzEnvelope ./server
func FuzzEnvelope(f *testing.F) {
	for _, s := range []string{
		`{"type":"join","room":"lobby","presence":true,"id":1}`,
		`{"type":"room_message","room":"lobby","data":{"text":"hi","n":[1,2,{"a":"}"}]},"id":"x"}`,
		`{"type":"direct_message","to":"bob","data":"\"quoted\" \\ text"}`,
		` { "type" : "leave" , "room" : "caf\u00e9" } `,
		`{"room":"a\"b","type":"join","presence":false,"extra":[{}]}`,
		`{"type":5}`,
		`{"id":true}`,
		`{"presence":"yes"}`,
		`{}`,
		`[]`,
		`null`,
		`"type"`,
		`{"data":null,"id":-1.5e3}`,
		`{"type":"join","room":"lobby","since":42}`,
		`{"type":"join","room":"lobby","since":-1}`,
		`{"type":"join","room":"lobby","since":9007199254740992}`,
		`{"since":1.5}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, p []byte) {
		if !json.Valid(p) {
			return
		}
		var e envelope
		err := parseEnvelope(p, &e) // must not panic
		if !utf8.Valid(p) {
			return
		}
		keys, ok := topKeys(p)
		if !ok {
			if err == nil {
				t.Fatalf("parseEnvelope accepted %q, which is not a JSON object", p)
			}
			return
		}
		seen := map[string]bool{}
		for _, k := range keys {
			if seen[k] {
				return // duplicate names: RFC 8259 §4 leaves the meaning open
			}
			seen[k] = true
		}
		var m map[string]json.RawMessage
		if err := json.Unmarshal(p, &m); err != nil {
			t.Fatalf("encoding/json cannot decode the object %q: %v", p, err)
		}
		wantErr := false
		str := func(k string) []byte {
			v, ok := m[k]
			if !ok {
				return nil
			}
			var s string
			if v[0] != '"' || json.Unmarshal(v, &s) != nil {
				wantErr = true
				return nil
			}
			return []byte(s)
		}
		typ, room, to := str("type"), str("room"), str("to")
		if v, ok := m["id"]; ok && v[0] != '"' && v[0] != '-' && (v[0] < '0' || v[0] > '9') {
			wantErr = true
		}
		presence := false
		if v, ok := m["presence"]; ok {
			switch string(v) {
			case "true":
				presence = true
			case "false":
			default:
				wantErr = true
			}
		}
		var since uint64
		if v, ok := m["since"]; ok {
			// A non-negative integer a JavaScript number holds exactly.
			var n json.Number
			dec := json.NewDecoder(bytes.NewReader(v))
			dec.UseNumber()
			if dec.Decode(&n) != nil {
				wantErr = true
			} else if i, err := strconv.ParseUint(n.String(), 10, 64); err != nil || i > 1<<53-1 || (len(v) > 1 && v[0] == '0') {
				wantErr = true
			} else {
				since = i
			}
		}
		if (err != nil) != wantErr {
			t.Fatalf("parseEnvelope(%q) = %v; encoding/json says a field has the wrong type: %v", p, err, wantErr)
		}
		if err != nil {
			return
		}
		field := func(name string, got, want []byte) {
			t.Helper()
			if !bytes.Equal(got, want) || (got == nil) != (want == nil) {
				t.Fatalf("parseEnvelope(%q): %s = %q, encoding/json: %q", p, name, got, want)
			}
		}
		field("type", e.typ, typ)
		field("room", e.room, room)
		field("to", e.to, to)
		field("roomRaw", e.roomRaw, raw(m, "room"))
		field("id", e.id, raw(m, "id"))
		field("data", e.data, raw(m, "data"))
		if e.since != since || e.hasSince != (m["since"] != nil) {
			t.Fatalf("parseEnvelope(%q): since %d (%v), want %d", p, e.since, e.hasSince, since)
		}
		if e.presence != presence {
			t.Fatalf("parseEnvelope(%q): presence %v, want %v", p, e.presence, presence)
		}
	})
}

// raw returns m[k] as a non-nil slice when present.
func raw(m map[string]json.RawMessage, k string) []byte {
	v, ok := m[k]
	if !ok {
		return nil
	}
	return []byte(v)
}

// topKeys returns the top-level member names of p (unescaped) if p is a
// JSON object.
func topKeys(p []byte) ([]string, bool) {
	dec := json.NewDecoder(bytes.NewReader(p))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return nil, false
	}
	var keys []string
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, false
		}
		k, ok := tok.(string)
		if !ok {
			return nil, false
		}
		keys = append(keys, k)
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return nil, false
		}
	}
	return keys, true
}
