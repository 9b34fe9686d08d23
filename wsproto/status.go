package wsproto

// StatusCode is a close status code (RFC 6455 §7.4).
type StatusCode uint16

// Close status codes of RFC 6455 §7.4.1 and the IANA registry.
const (
	CloseNormal             StatusCode = 1000
	CloseGoingAway          StatusCode = 1001
	CloseProtocolError      StatusCode = 1002
	CloseUnsupportedData    StatusCode = 1003
	CloseNoStatus           StatusCode = 1005 // never sent: "no status code was actually present"
	CloseAbnormal           StatusCode = 1006 // never sent: connection dropped without a close frame
	CloseInvalidPayload     StatusCode = 1007
	ClosePolicyViolation    StatusCode = 1008
	CloseMessageTooBig      StatusCode = 1009
	CloseMandatoryExtension StatusCode = 1010
	CloseInternalError      StatusCode = 1011
	CloseServiceRestart     StatusCode = 1012
	CloseTryAgainLater      StatusCode = 1013
	CloseBadGateway         StatusCode = 1014
)

// ValidCloseCode reports whether c may appear in a received close frame.
//
// RFC 6455 §7.4.1 defines 1000-1003 and 1007-1011; 1012-1014 were registered
// later with IANA. 1004 is reserved, and of 1005, 1006 and 1015 §7.4.1 says
// each "is a reserved value and MUST NOT be set as a status code in a Close
// control frame by an endpoint". §7.4.2: "Status codes in the range 0-999
// are not used", 1000-2999 are "reserved for definition by this protocol",
// 3000-3999 are registered with IANA for libraries and frameworks, 4000-4999
// are "reserved for private use". Anything else is invalid.
func ValidCloseCode(c StatusCode) bool {
	switch {
	case c >= 1000 && c <= 1003:
		return true
	case c >= 1007 && c <= 1014:
		return true
	case c >= 3000 && c <= 4999:
		return true
	}
	return false
}
