package bench

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Minter makes the benchmark's client tokens: one JSON Web Token per
// connection, for user id "bench-<n>" (n the connection's global index),
// as `c1m serve --auth=jwt` expects them in the `token.<jwt>` subprotocol
// (docs/protocol.md). The tokens expire a day after the Minter was made.
// Safe for concurrent use.
type Minter struct {
	alg    string
	method jwt.SigningMethod
	key    any              // []byte for HS256, the private key otherwise
	pub    crypto.PublicKey // nil for HS256
	exp    time.Time
}

// Token lifetime: long enough for any run.
const tokenLifetime = 24 * time.Hour

// minSecret is the shortest HS256 secret, as c1m serve requires (RFC 7518
// §3.2: a key at least as long as the hash output).
const minSecret = 32

// NewHS256Minter returns a Minter for HS256 tokens signed with secret.
func NewHS256Minter(secret []byte) (*Minter, error) {
	if len(secret) < minSecret {
		return nil, fmt.Errorf("cannot use a JWT secret of %d bytes: HS256 needs at least %d (RFC 7518 §3.2)", len(secret), minSecret)
	}
	return &Minter{alg: "HS256", method: jwt.SigningMethodHS256, key: append([]byte(nil), secret...), exp: time.Now().Add(tokenLifetime)}, nil
}

// NewKeyMinter reads a PEM private key ("PRIVATE KEY" (PKCS #8), "RSA
// PRIVATE KEY" (PKCS #1) or "EC PRIVATE KEY" (SEC 1)) and returns a Minter
// for RS256 (an RSA key of at least 2,048 bits) or ES256 (a P-256 key).
func NewKeyMinter(pemFile string) (*Minter, error) {
	b, err := os.ReadFile(pemFile)
	if err != nil {
		return nil, fmt.Errorf("cannot read the JWT private key: %w", err)
	}
	blk, _ := pem.Decode(b)
	if blk == nil {
		return nil, fmt.Errorf("cannot parse the JWT private key %s: no PEM block", pemFile)
	}
	var key any
	switch blk.Type {
	case "PRIVATE KEY":
		key, err = x509.ParsePKCS8PrivateKey(blk.Bytes)
	case "RSA PRIVATE KEY":
		key, err = x509.ParsePKCS1PrivateKey(blk.Bytes)
	case "EC PRIVATE KEY":
		key, err = x509.ParseECPrivateKey(blk.Bytes)
	default:
		return nil, fmt.Errorf("cannot parse the JWT private key %s: PEM type %q is not a private key", pemFile, blk.Type)
	}
	if err != nil {
		return nil, fmt.Errorf("cannot parse the JWT private key %s: %w", pemFile, err)
	}
	m := &Minter{key: key, exp: time.Now().Add(tokenLifetime)}
	switch k := key.(type) {
	case *rsa.PrivateKey:
		if k.N.BitLen() < 2048 {
			return nil, fmt.Errorf("cannot use a %d-bit RSA key: RS256 needs at least 2048 bits", k.N.BitLen())
		}
		m.alg, m.method, m.pub = "RS256", jwt.SigningMethodRS256, &k.PublicKey
	case *ecdsa.PrivateKey:
		if k.Curve != elliptic.P256() {
			return nil, fmt.Errorf("cannot use an EC key on %s: ES256 needs P-256", k.Curve.Params().Name)
		}
		m.alg, m.method, m.pub = "ES256", jwt.SigningMethodES256, &k.PublicKey
	default:
		return nil, fmt.Errorf("cannot use a JWT private key of type %T: want RSA or P-256", key)
	}
	return m, nil
}

// Alg returns the algorithm: HS256, RS256 or ES256.
func (m *Minter) Alg() string { return m.alg }

// errNoPublicKey: an HS256 Minter has a secret, not a key pair.
var errNoPublicKey = errors.New("bench: an HS256 secret has no public key")

// PublicKeyPEM returns the public key (PKIX, "PUBLIC KEY") that verifies
// the tokens, for `c1m serve --jwt-public-key`.
func (m *Minter) PublicKeyPEM() ([]byte, error) {
	if m.pub == nil {
		return nil, errNoPublicKey
	}
	der, err := x509.MarshalPKIXPublicKey(m.pub)
	if err != nil {
		return nil, fmt.Errorf("cannot encode the JWT public key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), nil
}

// UserID is connection n's user id.
func UserID(n int) string { return "bench-" + strconv.Itoa(n) }

// Mint returns the token of connection n.
func (m *Minter) Mint(n int) (string, error) {
	now := time.Now()
	t := jwt.NewWithClaims(m.method, jwt.RegisteredClaims{
		Subject:   UserID(n),
		IssuedAt:  jwt.NewNumericDate(now),
		ExpiresAt: jwt.NewNumericDate(m.exp),
	})
	s, err := t.SignedString(m.key)
	if err != nil {
		return "", fmt.Errorf("cannot sign the token of connection %d: %w", n, err)
	}
	return s, nil
}

// MintRange returns the tokens of connections first … first+n-1, signed
// on every core; done, if not nil, counts the tokens made so far.
func (m *Minter) MintRange(first, n int, done *atomic.Int64) ([]string, error) {
	out := make([]string, n)
	par := min(runtime.GOMAXPROCS(0), max(n, 1))
	var wg sync.WaitGroup
	errs := make([]error, par)
	for g := 0; g < par; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := g; i < n; i += par {
				tok, err := m.Mint(first + i)
				if err != nil {
					errs[g] = err
					return
				}
				out[i] = tok
				if done != nil {
					done.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return out, nil
}
