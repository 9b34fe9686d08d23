package server

import (
	"errors"
	"path"
	"time"
)

// Identity is who a connection is, as established at the handshake.
type Identity struct {
	// User is the user id (the JWT "sub"); "" for an anonymous connection.
	User string
	// Rooms are glob patterns (path.Match syntax) naming the rooms the
	// connection may join and publish to; nil means any room.
	Rooms []string
	// DM are glob patterns naming the users the connection may send
	// direct messages to; nil means anyone. NoDM (the token's "dm":
	// false) forbids direct messages altogether.
	DM   []string
	NoDM bool
	// Expires is when the token stops being valid (its "exp"); zero for
	// an anonymous connection.
	Expires time.Time
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

// MayMessage reports whether the identity's dm claim allows a direct
// message to user.
func (id *Identity) MayMessage(user string) bool {
	if id.NoDM {
		return false
	}
	if id.DM == nil {
		return true
	}
	for _, p := range id.DM {
		if ok, err := path.Match(p, user); ok && err == nil {
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
	AuthBadClaims    = "bad_claims" // a rooms or dm claim that is not a list of valid patterns, nbf in the future
	AuthAudience     = "audience"   // "aud" without the configured audience
	AuthIssuer       = "issuer"     // "iss" other than the configured issuer
	AuthOrigin       = "origin"     // Origin not on the allow-list (403)
)

var authReasons = []string{AuthMissing, AuthMalformed, AuthBadAlgorithm, AuthBadSignature, AuthExpired, AuthNoExpiry, AuthNoSubject, AuthBadClaims, AuthAudience, AuthIssuer, AuthOrigin}

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
