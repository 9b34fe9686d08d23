package wsproto

import "bytes"

// findSecKey returns the value of the last Sec-WebSocket-Key header in
// head and whether every such header holds a valid key (and there is one).
func findSecKey(head []byte) (key []byte, ok bool) {
	const name = "sec-websocket-key"
	for len(head) > 0 {
		line := head
		head = nil
		if i := bytes.IndexByte(line, '\n'); i >= 0 {
			line, head = line[:i], line[i+1:]
		}
		if len(line) <= len(name) || line[len(name)] != ':' && line[len(name)] != ' ' && line[len(name)] != '\t' {
			continue
		}
		if !asciiEqualFold(line[:len(name)], name) {
			continue
		}
		v := trimOWS(line[len(name):])
		if len(v) == 0 || v[0] != ':' {
			continue
		}
		v = trimOWS(v[1:])
		if !isSecKey(v) {
			return nil, false
		}
		key = v
	}
	return key, key != nil
}

func isSecKey(v []byte) bool {
	if len(v) != 24 || v[22] != '=' || v[23] != '=' {
		return false
	}
	for _, c := range v[:22] {
		if !isBase64(c) {
			return false
		}
	}
	return true
}

func isBase64(c byte) bool {
	return c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '+' || c == '/'
}

// trimOWS trims spaces, tabs and a trailing CR.
func trimOWS(b []byte) []byte {
	for len(b) > 0 && (b[0] == ' ' || b[0] == '\t') {
		b = b[1:]
	}
	for len(b) > 0 && (b[len(b)-1] == ' ' || b[len(b)-1] == '\t' || b[len(b)-1] == '\r') {
		b = b[:len(b)-1]
	}
	return b
}

func asciiEqualFold(b []byte, lower string) bool {
	for i := range len(lower) {
		c := b[i]
		if c >= 'A' && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != lower[i] {
			return false
		}
	}
	return true
}
