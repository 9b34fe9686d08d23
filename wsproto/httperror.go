package wsproto

import (
	"net/http"
	"strconv"
)

// HandshakeError reports a rejected opening handshake. The response Upgrade
// returned with it already carries Status. Upgrade returns preallocated
// values for the rejections it decides itself (compare with errors.Is or
// ==); a rejection by a hook wraps the hook's error in Err.
type HandshakeError struct {
	Status int    // HTTP status of the response, 4xx
	Reason string // short, static; the response body
	Err    error  // the hook error behind the rejection, or nil

	header string // extra response header lines, each ending in CRLF
	msg    string // precomputed Error() text for package-level values
}

// Error returns "wsproto: handshake: <reason> (HTTP <status>)".
func (e *HandshakeError) Error() string {
	if e.msg != "" {
		return e.msg
	}
	s := handshakeErrorText(e.Status, e.Reason)
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

// Unwrap returns the hook error behind the rejection, if any.
func (e *HandshakeError) Unwrap() error { return e.Err }

func handshakeErrorText(status int, reason string) string {
	return "wsproto: handshake: " + reason + " (HTTP " + strconv.Itoa(status) + ")"
}

func newHandshakeError(status int, reason, header string) *HandshakeError {
	return &HandshakeError{Status: status, Reason: reason, header: header, msg: handshakeErrorText(status, reason)}
}

// versionHeader is the header RFC 6455 §4.4 asks for: "the server MUST [...]
// send an appropriate HTTP error code (such as 426 Upgrade Required) and a
// |Sec-WebSocket-Version| header field indicating the version(s) the server
// is capable of understanding."
const versionHeader = "Sec-WebSocket-Version: 13\r\n"

// Rejections decided by Upgrade itself.
var (
	ErrHandshakeIncomplete = newHandshakeError(http.StatusBadRequest, "incomplete request head", "")
	ErrHandshakeMalformed  = newHandshakeError(http.StatusBadRequest, "malformed request", "")
	// ErrHandshakeProtocol is a request below HTTP/1.1 (or above 1.x).
	// gobwas/ws answers 505; we answer 400 so that every rejection is a
	// client error: RFC 6455 §4.2.1 "If the server, while reading the
	// handshake, finds that the client did not send a handshake that
	// matches the description below [...] the server MUST stop processing
	// the client's handshake and return an HTTP response with an
	// appropriate error code (such as 400 Bad Request)."
	ErrHandshakeProtocol = newHandshakeError(http.StatusBadRequest, "HTTP/1.1 required", "")
	// ErrHandshakeMethod is a method other than GET: 405 with "Allow: GET"
	// (RFC 9110 §15.5.6: the server "MUST generate an Allow header field").
	ErrHandshakeMethod     = newHandshakeError(http.StatusMethodNotAllowed, "method must be GET", "Allow: GET\r\n")
	ErrHandshakeHost       = newHandshakeError(http.StatusBadRequest, "missing Host header", "")
	ErrHandshakeUpgrade    = newHandshakeError(http.StatusBadRequest, "bad Upgrade header", "")
	ErrHandshakeConnection = newHandshakeError(http.StatusBadRequest, "bad Connection header", "")
	ErrHandshakeKey        = newHandshakeError(http.StatusBadRequest, "bad Sec-WebSocket-Key header", "")
	// ErrHandshakeNoVersion is a request without Sec-WebSocket-Version:
	// not a WebSocket handshake at all, so 400 (as gobwas/ws), still
	// naming the version we speak.
	ErrHandshakeNoVersion = newHandshakeError(http.StatusBadRequest, "missing Sec-WebSocket-Version header", versionHeader)
	// ErrHandshakeVersion is a Sec-WebSocket-Version other than 13.
	ErrHandshakeVersion  = newHandshakeError(http.StatusUpgradeRequired, "unsupported Sec-WebSocket-Version", versionHeader)
	ErrHandshakeNotFound = newHandshakeError(http.StatusNotFound, "not found", "")
	ErrHandshakeTooLarge = newHandshakeError(http.StatusRequestHeaderFieldsTooLarge, "request head too large", "")
)

// AppendHTTPError appends a complete, minimal HTTP/1.1 error response to dst:
// status line, "Connection: close", a plain-text Content-Length body of
// reason (the status text when reason is empty). The server uses it for
// 431 (head over the limit before it completes), 503 (at capacity) and
// handshake timeouts (408), and then closes the connection. reason must not
// contain CR or LF. It does not allocate beyond growing dst.
func AppendHTTPError(dst []byte, status int, reason string) []byte {
	return appendHTTPError(dst, status, "", reason)
}

func appendHTTPError(dst []byte, status int, header, reason string) []byte {
	text := http.StatusText(status)
	if text == "" {
		text = "Error"
	}
	if reason == "" {
		reason = text
	}
	dst = append(dst, "HTTP/1.1 "...)
	dst = strconv.AppendInt(dst, int64(status), 10)
	dst = append(dst, ' ')
	dst = append(dst, text...)
	dst = append(dst, "\r\nConnection: close\r\nContent-Type: text/plain; charset=utf-8\r\n"...)
	dst = append(dst, header...)
	dst = append(dst, "Content-Length: "...)
	dst = strconv.AppendInt(dst, int64(len(reason)+1), 10)
	dst = append(dst, "\r\n\r\n"...)
	dst = append(dst, reason...)
	return append(dst, '\n')
}
