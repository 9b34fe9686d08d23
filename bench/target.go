package bench

import (
	"crypto/sha1"
	"encoding/base64"
	"fmt"
	"net/netip"
	"net/url"
	"strconv"
)

// Target is one WebSocket endpoint the workers connect to.
type Target struct {
	Addr netip.AddrPort // IPv4 host and port
	Path string         // request path, e.g. /ws
}

// ParseTarget parses ws://host:port/path (IPv4 literal or localhost).
func ParseTarget(s string) (Target, error) {
	u, err := url.Parse(s)
	if err != nil || u.Scheme != "ws" {
		return Target{}, fmt.Errorf("cannot use target %q: want ws://host:port/path", s)
	}
	host := u.Hostname()
	if host == "localhost" {
		host = "127.0.0.1"
	}
	ip, err := netip.ParseAddr(host)
	if err != nil || !ip.Is4() {
		return Target{}, fmt.Errorf("cannot use target %q: the host must be an IPv4 address", s)
	}
	port, err := strconv.ParseUint(u.Port(), 10, 16)
	if err != nil || port == 0 {
		return Target{}, fmt.Errorf("cannot use target %q: it needs a port", s)
	}
	path := u.EscapedPath()
	if path == "" {
		path = "/"
	}
	return Target{Addr: netip.AddrPortFrom(ip, uint16(port)), Path: path}, nil
}

// String returns the ws:// URL.
func (t Target) String() string { return "ws://" + t.Addr.String() + t.Path }

// benchKey is the Sec-WebSocket-Key every benchmark client sends. A fixed
// key is allowed (RFC 6455 §4.1 asks for a random one to stop proxies from
// caching, which does not apply on loopback) and lets the worker check the
// server's Sec-WebSocket-Accept with one precomputed value.
const benchKey = "YzFtLWJlbmNoLWtleS0wMQ=="

// expectedAccept is base64(SHA-1(key + GUID)), RFC 6455 §4.2.2.
func expectedAccept() string {
	h := sha1.Sum([]byte(benchKey + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"))
	return base64.StdEncoding.EncodeToString(h[:])
}

// upgradeHead is the handshake a worker sends to t, without the blank
// line that ends it (appendRequest adds the token, if any, and the end).
func upgradeHead(t Target) []byte {
	return []byte("GET " + t.Path + " HTTP/1.1\r\nHost: " + t.Addr.String() +
		"\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: " + benchKey +
		"\r\nSec-WebSocket-Version: 13\r\n")
}

// appendRequest appends the whole upgrade request: head, the token as the
// `token.<jwt>` subprotocol when token is not empty (docs/protocol.md),
// and the blank line.
func appendRequest(dst, head []byte, token string) []byte {
	dst = append(dst, head...)
	if token != "" {
		dst = append(dst, "Sec-WebSocket-Protocol: token."...)
		dst = append(dst, token...)
		dst = append(dst, "\r\n"...)
	}
	return append(dst, "\r\n"...)
}
