package app

import (
	"encoding/json"
	"errors"
)

// envelope is a client message of the JSON protocol (docs/protocol.md),
// parsed in place: every field is a sub-slice of the frame payload, valid
// until OnMessage returns.
type envelope struct {
	typ      []byte // unquoted
	room     []byte // unquoted (escapes resolved, see unquote)
	roomRaw  []byte // the room's JSON string token as sent
	to       []byte // unquoted
	id       []byte // raw JSON value (string or number), echoed in replies
	data     []byte // raw JSON value
	presence bool
	since    uint64 // join: the last seq the client saw of the room
	hasSince bool
}

var errEnvelope = errors.New("server: bad message envelope")

// parseEnvelope reads the top-level object of p, which must already be
// valid JSON (json.Valid). It allocates only for a string field that uses
// escapes. Unknown fields are skipped (newer clients may send more).
func parseEnvelope(p []byte, e *envelope) error {
	*e = envelope{}
	i := skipWS(p, 0)
	if i >= len(p) || p[i] != '{' {
		return errEnvelope
	}
	i++
	for {
		i = skipWS(p, i)
		if i < len(p) && p[i] == '}' {
			return nil
		}
		if i >= len(p) || p[i] != '"' {
			return errEnvelope
		}
		kEnd := skipValue(p, i)
		key, err := unquote(p[i:kEnd])
		if err != nil {
			return err
		}
		i = skipWS(p, kEnd)
		if i >= len(p) || p[i] != ':' {
			return errEnvelope
		}
		i = skipWS(p, i+1)
		vEnd := skipValue(p, i)
		if vEnd <= i {
			return errEnvelope
		}
		v := p[i:vEnd]
		switch string(key) {
		case "type":
			e.typ, err = unquote(v)
		case "room":
			e.room, err = unquote(v)
			e.roomRaw = v
		case "to":
			e.to, err = unquote(v)
		case "id":
			if v[0] != '"' && (v[0] < '0' || v[0] > '9') && v[0] != '-' {
				err = errEnvelope
			}
			e.id = v
		case "data":
			e.data = v
		case "since":
			e.since, err = parseSeq(v)
			e.hasSince = true
		case "presence":
			switch string(v) {
			case "true":
				e.presence = true
			case "false":
			default:
				err = errEnvelope
			}
		}
		if err != nil {
			return err
		}
		i = skipWS(p, vEnd)
		if i < len(p) && p[i] == ',' {
			i++
			continue
		}
		if i < len(p) && p[i] == '}' {
			return nil
		}
		return errEnvelope
	}
}

// parseSeq reads a sequence number: a JSON integer from 0 to 2^53-1 (the
// integers JavaScript clients hold exactly).
func parseSeq(v []byte) (uint64, error) {
	if len(v) == 0 || len(v) > 16 {
		return 0, errEnvelope
	}
	var n uint64
	for _, c := range v {
		if c < '0' || c > '9' {
			return 0, errEnvelope
		}
		n = n*10 + uint64(c-'0')
	}
	if n > 1<<53-1 || (len(v) > 1 && v[0] == '0') {
		return 0, errEnvelope
	}
	return n, nil
}

// unquote returns the contents of a JSON string value. Without escapes it
// is a sub-slice; with them it is decoded into a new slice.
func unquote(v []byte) ([]byte, error) {
	if len(v) < 2 || v[0] != '"' {
		return nil, errEnvelope
	}
	inner := v[1 : len(v)-1]
	for _, c := range inner {
		if c == '\\' {
			var s string
			if err := json.Unmarshal(v, &s); err != nil {
				return nil, errEnvelope
			}
			return []byte(s), nil
		}
	}
	return inner, nil
}

func skipWS(p []byte, i int) int {
	for i < len(p) && (p[i] == ' ' || p[i] == '\t' || p[i] == '\n' || p[i] == '\r') {
		i++
	}
	return i
}

// skipValue returns the index just past the JSON value starting at i, for
// input already known to be valid JSON.
func skipValue(p []byte, i int) int {
	if i >= len(p) {
		return i
	}
	switch p[i] {
	case '"':
		for j := i + 1; j < len(p); j++ {
			switch p[j] {
			case '\\':
				j++
			case '"':
				return j + 1
			}
		}
		return len(p)
	case '{', '[':
		depth := 0
		for j := i; j < len(p); j++ {
			switch p[j] {
			case '"':
				j = skipValue(p, j) - 1
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return j + 1
				}
			}
		}
		return len(p)
	}
	j := i
	for j < len(p) && p[j] != ',' && p[j] != '}' && p[j] != ']' && p[j] != ' ' && p[j] != '\t' && p[j] != '\n' && p[j] != '\r' {
		j++
	}
	return j
}
