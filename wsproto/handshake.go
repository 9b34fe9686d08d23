package wsproto

import (
	"bytes"
	"crypto/sha1"
	"encoding/base64"
	"errors"
	"io"

	"github.com/gobwas/ws"
)

// DefaultMaxHeaderBytes is the request head size limit when
// Upgrader.MaxHeaderBytes is 0.
const DefaultMaxHeaderBytes = 8 << 10

var headEnd = []byte("\r\n\r\n")

// RequestEnd returns the length of the request head in b (the index just
// past the first "\r\n\r\n"), or -1 when b holds no complete head yet.
func RequestEnd(b []byte) int {
	i := bytes.Index(b, headEnd)
	if i < 0 {
		return -1
	}
	return i + len(headEnd)
}

// Upgrader runs the server side of the opening handshake (RFC 6455 §4.2)
// over a request head the caller gathered from a non-blocking socket, with
// gobwas/ws doing the parsing and checks without copying header values.
//
// Set the exported fields before the first Upgrade and do not change them
// afterwards. An Upgrader is NOT safe for concurrent use: it keeps the
// scratch reader/writer that lets an upgrade run without allocating, so use
// one per event loop. Its callbacks run synchronously inside Upgrade, and
// their []byte arguments are valid only until they return.
//
// A callback rejects the handshake by returning an error: a *HandshakeError
// or a *ws.ConnectionRejectedError picks the status (a rejection without a
// status gets 403); any other error gives 403 Forbidden and is wrapped in
// HandshakeError.Err.
type Upgrader struct {
	// Path is the required request path; the query string is ignored for
	// the match. A request for another path gets 404. "" accepts any path.
	// The request-target is taken in origin-form ("/path?query").
	Path string

	// MaxHeaderBytes caps the request head; 0 means DefaultMaxHeaderBytes.
	// A bigger head gets 431.
	MaxHeaderBytes int

	// OnRequest, if set, is called with the full request-target (with
	// the query) after the request line is parsed and Path matched, e.g.
	// to authenticate a query token.
	OnRequest func(uri []byte) error

	// OnHeader, if set, is called for Host and every header that is not
	// part of the WebSocket handshake (Origin, Cookie, ...), zero-copy.
	// Keys come in canonical form ("Origin", "X-Forwarded-For").
	OnHeader func(key, value []byte) error

	// Protocol, if set, selects the subprotocol: it is called for each
	// token of Sec-WebSocket-Protocol in order, and the first for which it
	// returns true is accepted (Handshake.Protocol; this copies the
	// chosen token into a string, the one allocation of such an upgrade).
	Protocol func(proto []byte) bool

	ws    ws.Upgrader
	io    handshakeIO
	ready bool
}

// handshakeIO is the io.ReadWriter gobwas/ws runs over: it reads the
// request head and appends the response to out.
type handshakeIO struct {
	in  []byte
	out []byte
}

func (h *handshakeIO) Read(p []byte) (int, error) {
	if len(h.in) == 0 {
		return 0, io.EOF
	}
	n := copy(p, h.in)
	h.in = h.in[n:]
	return n, nil
}

func (h *handshakeIO) Write(p []byte) (int, error) {
	h.out = append(h.out, p...)
	return len(p), nil
}

var hostKey = []byte("Host")

// Handshake is what a successful Upgrade established. It is a plain value
// owned by the caller.
type Handshake struct {
	// Protocol is the subprotocol the Upgrader's Protocol callback chose
	// (echoed in the 101 response), or "" when none was.
	Protocol string
}

// Upgrade runs the handshake on the request head req[:RequestEnd(req)] and
// appends the HTTP response to dst: 101 Switching Protocols on success, or a
// complete error response (see AppendHTTPError) carrying the status of the
// returned *HandshakeError. Bytes after the head are not looked at. req is
// not modified and not retained.
//
// Statuses: 400 for anything that is not a well-formed HTTP/1.1 upgrade
// request (garbage, incomplete head, HTTP/1.0, missing or bad Host,
// Upgrade, Connection, Sec-WebSocket-Key, missing Sec-WebSocket-Version),
// 405 for a method other than GET, 426 for a Sec-WebSocket-Version other
// than 13, 404 for a path other than Path, 431 for a head over
// MaxHeaderBytes, 403 (or the hook's choice) when a hook rejects.
//
// Upgrade never panics on any input. gobwas/ws has one panic, "unknown
// headers state", in the branch taken when not all five required headers
// were seen; it is reached only if a 5-bit seen-mask that is not all ones
// has all five bits set, which cannot happen. FuzzHandshake checks this.
func (u *Upgrader) Upgrade(req []byte, dst []byte) (resp []byte, hs Handshake, err error) {
	limit := u.MaxHeaderBytes
	if limit <= 0 {
		limit = DefaultMaxHeaderBytes
	}
	end := RequestEnd(req)
	switch {
	case end > limit || end < 0 && len(req) > limit:
		return u.reject(dst, ErrHandshakeTooLarge)
	case end < 0:
		return u.reject(dst, ErrHandshakeIncomplete)
	}
	head := req[:end]
	if !u.ready {
		// Method values allocate; bind them once per Upgrader.
		u.ws.OnRequest = u.onRequest
		u.ws.OnHost = u.onHost
		u.ws.OnHeader = u.onHeader
		u.ws.OnBeforeUpgrade = u.onBeforeUpgrade
		u.ready = true
	}
	u.ws.Protocol = u.Protocol
	// A read buffer as big as the largest head keeps every header line in
	// one piece: gobwas/ws copies (allocates) lines longer than its buffer.
	u.ws.ReadBufferSize = limit

	u.io = handshakeIO{in: head, out: dst}
	wh, err := u.ws.Upgrade(&u.io)
	// Whatever gobwas/ws wrote (an error response) is replaced below.
	u.io = handshakeIO{}
	if err == errValidated {
		// RFC 6455 §4.2.1: "A |Sec-WebSocket-Key| header field with a
		// base64-encoded value that, when decoded, is 16 bytes in
		// length." gobwas/ws checks only that the value is 24 bytes.
		key, ok := findSecKey(head)
		if !ok {
			return u.reject(dst, ErrHandshakeKey)
		}
		return appendSwitching(dst, key, wh.Protocol), Handshake{Protocol: wh.Protocol}, nil
	}
	// Drop the error response gobwas/ws wrote; write ours.
	return u.reject(dst, handshakeError(err))
}

// errValidated stops gobwas/ws after it has validated the whole request
// and run every callback, just before it writes the 101 response. That
// response is written by appendSwitching instead, because gobwas/ws v1.5.0
// allocates the Sec-WebSocket-Accept value on the heap (nonce.go,
// writeAccept) and the server's upgrade must not allocate.
var errValidated = errors.New("wsproto: handshake validated")

func (u *Upgrader) onBeforeUpgrade() (ws.HandshakeHeader, error) { return nil, errValidated }

// acceptGUID is the GUID of RFC 6455 §1.3.
const acceptGUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

// appendSwitching appends the 101 response (RFC 6455 §4.2.2 step 5):
// Sec-WebSocket-Accept is base64(SHA-1(key + GUID)), computed on the stack.
func appendSwitching(dst, key []byte, protocol string) []byte {
	var in [24 + len(acceptGUID)]byte
	copy(in[copy(in[:], key):], acceptGUID)
	sum := sha1.Sum(in[:])
	var accept [28]byte
	base64.StdEncoding.Encode(accept[:], sum[:])
	dst = append(dst, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: "...)
	dst = append(dst, accept[:]...)
	dst = append(dst, "\r\n"...)
	if protocol != "" {
		// RFC 6455 §4.2.2: the selected subprotocol is echoed back.
		dst = append(dst, "Sec-WebSocket-Protocol: "...)
		dst = append(dst, protocol...)
		dst = append(dst, "\r\n"...)
	}
	return append(dst, "\r\n"...)
}

func (u *Upgrader) reject(dst []byte, e *HandshakeError) ([]byte, Handshake, error) {
	return appendHTTPError(dst, e.Status, e.header, e.Reason), Handshake{}, e
}

func (u *Upgrader) onRequest(uri []byte) error {
	if u.Path != "" {
		path := uri
		if i := bytes.IndexByte(path, '?'); i >= 0 {
			path = path[:i]
		}
		if string(path) != u.Path {
			return ErrHandshakeNotFound
		}
	}
	if f := u.OnRequest; f != nil {
		return hookError(f(uri))
	}
	return nil
}

func (u *Upgrader) onHost(host []byte) error {
	if f := u.OnHeader; f != nil {
		return hookError(f(hostKey, host))
	}
	return nil
}

func (u *Upgrader) onHeader(key, value []byte) error {
	if f := u.OnHeader; f != nil {
		return hookError(f(key, value))
	}
	return nil
}

// hookError turns a hook's error into a *HandshakeError.
func hookError(err error) error {
	if err == nil {
		return nil
	}
	var he *HandshakeError
	if errors.As(err, &he) {
		return he
	}
	status := 403
	var rej *ws.ConnectionRejectedError
	if errors.As(err, &rej) && rej.StatusCode() != 0 {
		status = rej.StatusCode()
	}
	return &HandshakeError{Status: status, Reason: "forbidden", Err: err}
}

// handshakeError maps an error from ws.Upgrader.Upgrade to a HandshakeError.
func handshakeError(err error) *HandshakeError {
	var he *HandshakeError
	if errors.As(err, &he) {
		return he // from our hooks
	}
	switch err {
	case ws.ErrHandshakeBadProtocol:
		return ErrHandshakeProtocol
	case ws.ErrHandshakeBadMethod:
		return ErrHandshakeMethod
	case ws.ErrHandshakeBadHost:
		return ErrHandshakeHost
	case ws.ErrHandshakeBadUpgrade:
		return ErrHandshakeUpgrade
	case ws.ErrHandshakeBadConnection:
		return ErrHandshakeConnection
	case ws.ErrHandshakeBadSecKey:
		return ErrHandshakeKey
	case ws.ErrHandshakeBadSecVersion:
		return ErrHandshakeNoVersion
	case ws.ErrHandshakeUpgradeRequired:
		return ErrHandshakeVersion
	}
	// ws.ErrMalformedRequest, and read errors (a head that is not lines
	// of HTTP) that cannot happen on a head ending in CRLF CRLF.
	return ErrHandshakeMalformed
}
