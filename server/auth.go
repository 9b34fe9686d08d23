package server

import (
	"errors"
	"path"
)

// Identity is who a connection is, as established at the handshake.
type Identity struct {
	// User is the user id (the JWT "sub"); "" for an anonymous connection.
	User string
	// Rooms are glob patterns (path.Match syntax) naming the rooms the
	// connection may join and publish to; nil means any room.
	Rooms []string
}

// MayUseRoom reports whether the identity's rooms claim allows room.
func (id *Identity) MayUseRoom(room string) bool {
	if id.Rooms == nil {
		return true
	}
	for _, p := range id.Rooms {
		if ok, err := path.Match(p, room); ok && err == nil {
			return true
		}
	}
	return false
}

// Authenticator checks a handshake's credential. token is the JWT taken
// from the Sec-WebSocket-Protocol header ("token.<jwt>") or, when allowed,
// the access_token query parameter; "" when the client sent none.
// Implementations are called on an event loop and must not block.
type Authenticator interface {
	Authenticate(token string) (Identity, error)
}

// AuthError is an authentication failure: the handshake is answered 401
// and c1m_auth_failures_total{reason=Reason} counts it. Reason is one of
// the AuthReason constants. The token never appears in it.
type AuthError struct {
	Reason string
	Err    error
}

func (e *AuthError) Error() string {
	if e.Err != nil {
		return "server: authentication failed (" + e.Reason + "): " + e.Err.Error()
	}
	return "server: authentication failed (" + e.Reason + ")"
}

func (e *AuthError) Unwrap() error { return e.Err }

// Authentication failure reasons, the values of
// c1m_auth_failures_total{reason}.
const (
	AuthMissing      = "missing"       // no token
	AuthMalformed    = "malformed"     // not a JWT
	AuthBadAlgorithm = "bad_algorithm" // alg not the configured one (none, confusion)
	AuthBadSignature = "bad_signature"
	AuthExpired      = "expired"
	AuthNoExpiry     = "no_exp"
	AuthNoSubject    = "no_sub"
	AuthBadClaims    = "bad_claims" // a rooms claim that is not a list of valid patterns, nbf in the future
	AuthOrigin       = "origin"     // Origin not on the allow-list (403)
)

var authReasons = []string{AuthMissing, AuthMalformed, AuthBadAlgorithm, AuthBadSignature, AuthExpired, AuthNoExpiry, AuthNoSubject, AuthBadClaims, AuthOrigin}

// AuthReasons returns every value of c1m_auth_failures_total{reason}, in
// a new slice.
func AuthReasons() []string { return append([]string(nil), authReasons...) }

// authReason returns err's reason for the metric.
func authReason(err error) string {
	var ae *AuthError
	if errors.As(err, &ae) {
		return ae.Reason
	}
	return AuthMalformed
}
