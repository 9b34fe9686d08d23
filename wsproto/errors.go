package wsproto

import "strconv"

// CloseError reports that the connection must be failed with Code. The
// Reader returns only the preallocated package-level values below, so the
// error path does not allocate; compare with errors.Is or ==.
//
// Reason is short, static and valid UTF-8, so that it can be sent as the
// close reason: AppendClose(dst, e.Code, e.Reason).
type CloseError struct {
	Code   StatusCode
	Reason string

	msg string // precomputed Error() text for package-level values
}

// Error returns "wsproto: <reason> (close <code>)".
func (e *CloseError) Error() string {
	if e.msg != "" {
		return e.msg
	}
	return closeErrorText(e.Code, e.Reason)
}

func closeErrorText(code StatusCode, reason string) string {
	return "wsproto: " + reason + " (close " + strconv.Itoa(int(code)) + ")"
}

func newCloseError(code StatusCode, reason string) *CloseError {
	return &CloseError{Code: code, Reason: reason, msg: closeErrorText(code, reason)}
}

// Errors returned by Reader.Feed. Each names the RFC 6455 rule it enforces
// in reader.go / header.go, where the rule is quoted.
var (
	ErrUnmasked             = newCloseError(CloseProtocolError, "unmasked client frame")
	ErrMasked               = newCloseError(CloseProtocolError, "masked server frame")
	ErrReservedBits         = newCloseError(CloseProtocolError, "reserved bits set")
	ErrBadOpcode            = newCloseError(CloseProtocolError, "reserved opcode")
	ErrControlTooLong       = newCloseError(CloseProtocolError, "control frame payload over 125 bytes")
	ErrFragmentedControl    = newCloseError(CloseProtocolError, "fragmented control frame")
	ErrBadContinuation      = newCloseError(CloseProtocolError, "continuation without a message")
	ErrNewMessageInFragment = newCloseError(CloseProtocolError, "new message inside a fragmented message")
	ErrBadClosePayload      = newCloseError(CloseProtocolError, "close payload of one byte")
	ErrInvalidCloseCode     = newCloseError(CloseProtocolError, "invalid close code")
	ErrMessageTooBig        = newCloseError(CloseMessageTooBig, "message too big")
	ErrInvalidUTF8          = newCloseError(CloseInvalidPayload, "invalid UTF-8")
)

// Errors the server fails a connection with for reasons of its own; they are
// here so that every close code the server sends has one spelling.
var (
	ErrGoingAway       = newCloseError(CloseGoingAway, "going away")
	ErrPolicyViolation = newCloseError(ClosePolicyViolation, "policy violation")
	ErrInternal        = newCloseError(CloseInternalError, "internal error")
	ErrTryAgainLater   = newCloseError(CloseTryAgainLater, "try again later")
	ErrUnsupportedData = newCloseError(CloseUnsupportedData, "unsupported data")
)
