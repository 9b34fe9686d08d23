package server

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path"
	"slices"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// JWTAuth authenticates JSON Web Tokens with one pinned algorithm: HS256
// with a shared secret, or RS256/ES256 with a public key. A token signed
// with any other algorithm — "none", or HS256 made with the public key as
// the secret (algorithm confusion) — is refused before its signature is
// looked at. "exp" is required, "sub" is the user id, and an optional
// "rooms" claim (a list of glob patterns) limits the rooms.
//
// Safe for concurrent use.
type JWTAuth struct {
	alg    string
	key    any
	parser *jwt.Parser
	aud    string
	iss    string
}

// JWTOptions are the claims a JWTAuth checks besides the signature and
// "exp", when set.
type JWTOptions struct {
	// Audience, when set, must be in the token's "aud" (RFC 7519 §4.1.3).
	Audience string
	// Issuer, when set, must be the token's "iss" (RFC 7519 §4.1.1).
	Issuer string
}

// NewHS256 returns a JWTAuth for HS256 tokens signed with secret.
func NewHS256(secret []byte, opts ...JWTOptions) (*JWTAuth, error) {
	if len(secret) < 32 {
		// RFC 7518 §3.2: a key of the same size as the hash output
		// (256 bits) or larger MUST be used with HS256.
		return nil, fmt.Errorf("cannot use a JWT secret of %d bytes: HS256 needs at least 32 (RFC 7518 §3.2)", len(secret))
	}
	return newJWTAuth("HS256", secret, opts), nil
}

// NewPublicKeyAuth reads a PEM public key (PKIX "PUBLIC KEY", or PKCS#1
// "RSA PUBLIC KEY") and returns a JWTAuth for RS256 (an RSA key) or ES256
// (a P-256 key).
func NewPublicKeyAuth(pemFile string, opts ...JWTOptions) (*JWTAuth, error) {
	b, err := os.ReadFile(pemFile)
	if err != nil {
		return nil, fmt.Errorf("cannot read JWT public key: %w", err)
	}
	blk, _ := pem.Decode(b)
	if blk == nil {
		return nil, fmt.Errorf("cannot parse JWT public key %s: no PEM block", pemFile)
	}
	var pub any
	switch blk.Type {
	case "PUBLIC KEY":
		pub, err = x509.ParsePKIXPublicKey(blk.Bytes)
	case "RSA PUBLIC KEY":
		pub, err = x509.ParsePKCS1PublicKey(blk.Bytes)
	default:
		return nil, fmt.Errorf("cannot parse JWT public key %s: PEM type %q is not a public key", pemFile, blk.Type)
	}
	if err != nil {
		return nil, fmt.Errorf("cannot parse JWT public key %s: %w", pemFile, err)
	}
	switch k := pub.(type) {
	case *rsa.PublicKey:
		if k.N.BitLen() < 2048 {
			return nil, fmt.Errorf("cannot use a %d-bit RSA key: RS256 needs at least 2048 bits", k.N.BitLen())
		}
		return newJWTAuth("RS256", k, opts), nil
	case *ecdsa.PublicKey:
		if k.Curve != elliptic.P256() {
			return nil, fmt.Errorf("cannot use EC key on %s: ES256 needs P-256", k.Curve.Params().Name)
		}
		return newJWTAuth("ES256", k, opts), nil
	}
	return nil, fmt.Errorf("cannot use JWT public key of type %T: want RSA or P-256", pub)
}

func newJWTAuth(alg string, key any, opts []JWTOptions) *JWTAuth {
	var o JWTOptions
	if len(opts) > 0 {
		o = opts[0]
	}
	popts := []jwt.ParserOption{
		jwt.WithValidMethods([]string{alg}),
		jwt.WithExpirationRequired(),
		jwt.WithLeeway(5 * time.Second),
	}
	if o.Audience != "" {
		popts = append(popts, jwt.WithAudience(o.Audience))
	}
	if o.Issuer != "" {
		popts = append(popts, jwt.WithIssuer(o.Issuer))
	}
	return &JWTAuth{alg: alg, key: key, parser: jwt.NewParser(popts...), aud: o.Audience, iss: o.Issuer}
}

// ChecksAudienceOrIssuer reports whether the JWTAuth checks "aud" or
// "iss": with a public key shared by an identity provider, and neither,
// any token that provider signs for any application is accepted.
func (a *JWTAuth) ChecksAudienceOrIssuer() bool { return a.aud != "" || a.iss != "" }

// Algorithm returns the pinned algorithm.
func (a *JWTAuth) Algorithm() string { return a.alg }

// claims are the registered claims plus c1m's rooms and dm.
type claims struct {
	jwt.RegisteredClaims
	Rooms []string `json:"rooms,omitempty"`
	DM    dmClaim  `json:"dm,omitempty"`
}

// dmClaim is the "dm" claim: false (no direct messages), or a list of glob
// patterns of the users a connection may message; absent means anyone.
type dmClaim struct {
	set      bool
	off      bool
	patterns []string
}

func (d *dmClaim) UnmarshalJSON(b []byte) error {
	d.set = true
	switch string(b) {
	case "false":
		d.off = true
		return nil
	case "true", "null":
		return nil
	}
	if err := json.Unmarshal(b, &d.patterns); err != nil {
		return fmt.Errorf("cannot read the dm claim: want false or a list of user patterns: %w", err)
	}
	if d.patterns == nil {
		d.patterns = []string{}
	}
	return nil
}

// Authenticate verifies token and returns its identity.
func (a *JWTAuth) Authenticate(token string) (Identity, error) {
	if token == "" {
		return Identity{}, &AuthError{Reason: AuthMissing}
	}
	// The algorithm is pinned before anything else: RFC 8725 §3.1, "libraries
	// MUST enable the caller to specify a supported set of algorithms and
	// MUST NOT use any other algorithms when performing cryptographic
	// operations". Checking it here also names the failure exactly.
	switch alg := headerAlg(token); {
	case alg == "":
		return Identity{}, &AuthError{Reason: AuthMalformed}
	case alg != a.alg:
		return Identity{}, &AuthError{Reason: AuthBadAlgorithm, Err: fmt.Errorf("alg %q, want %s", alg, a.alg)}
	}
	var c claims
	_, err := a.parser.ParseWithClaims(token, &c, func(t *jwt.Token) (any, error) { return a.key, nil })
	if err != nil {
		return Identity{}, &AuthError{Reason: jwtReason(err), Err: err}
	}
	if c.Subject == "" {
		return Identity{}, &AuthError{Reason: AuthNoSubject}
	}
	for _, p := range append(slices.Clip(c.Rooms), c.DM.patterns...) {
		if _, err := path.Match(p, ""); err != nil {
			return Identity{}, &AuthError{Reason: AuthBadClaims, Err: fmt.Errorf("bad rooms or dm pattern: %w", err)}
		}
	}
	// encoding/json leaves Rooms nil without the claim (any room) and
	// makes it empty for "rooms": [] (no room); likewise DM.
	id := Identity{User: c.Subject, Rooms: c.Rooms, DM: c.DM.patterns, NoDM: c.DM.off}
	if c.ExpiresAt != nil {
		id.Expires = c.ExpiresAt.Time
	}
	return id, nil
}

// headerAlg returns the "alg" of a compact JWT's header, "" if unreadable.
func headerAlg(token string) string {
	seg, _, ok := strings.Cut(token, ".")
	if !ok {
		return ""
	}
	b, err := base64.RawURLEncoding.DecodeString(seg)
	if err != nil {
		return ""
	}
	var h struct {
		Alg string `json:"alg"`
	}
	if json.Unmarshal(b, &h) != nil {
		return ""
	}
	return h.Alg
}

// jwtReason maps golang-jwt's errors to metric reasons.
func jwtReason(err error) string {
	var typeErr *json.UnmarshalTypeError
	switch {
	case errors.As(err, &typeErr):
		// Well-formed JSON whose claims have the wrong types ("rooms":
		// "x" instead of a list): the token is readable, its claims bad.
		return AuthBadClaims
	case errors.Is(err, jwt.ErrTokenMalformed):
		return AuthMalformed
	case errors.Is(err, jwt.ErrTokenSignatureInvalid):
		return AuthBadSignature
	case errors.Is(err, jwt.ErrTokenUnverifiable):
		return AuthBadAlgorithm
	case errors.Is(err, jwt.ErrTokenRequiredClaimMissing):
		return AuthNoExpiry
	case errors.Is(err, jwt.ErrTokenExpired):
		return AuthExpired
	case errors.Is(err, jwt.ErrTokenInvalidAudience):
		return AuthAudience
	case errors.Is(err, jwt.ErrTokenInvalidIssuer):
		return AuthIssuer
	}
	return AuthBadClaims
}
