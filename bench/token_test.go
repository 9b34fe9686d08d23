package bench

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// writePEM writes a PEM block to a file of the test's directory.
func writePEM(t *testing.T, typ string, der []byte) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "key.pem")
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// verify parses tok as the server would: the pinned algorithm, exp
// required, and returns its subject.
func verify(t *testing.T, tok, alg string, key any) string {
	t.Helper()
	p := jwt.NewParser(jwt.WithValidMethods([]string{alg}), jwt.WithExpirationRequired())
	var c jwt.RegisteredClaims
	if _, err := p.ParseWithClaims(tok, &c, func(*jwt.Token) (any, error) { return key, nil }); err != nil {
		t.Fatalf("token %s does not verify: %v", tok, err)
	}
	if c.ExpiresAt == nil || c.ExpiresAt.Before(time.Now().Add(time.Hour)) {
		t.Fatalf("token expires at %v, want hours ahead", c.ExpiresAt)
	}
	return c.Subject
}

// publicKey parses the Minter's public key PEM as c1m serve does.
func publicKey(t *testing.T, m *Minter) any {
	t.Helper()
	b, err := m.PublicKeyPEM()
	if err != nil {
		t.Fatal(err)
	}
	blk, _ := pem.Decode(b)
	if blk == nil || blk.Type != "PUBLIC KEY" {
		t.Fatalf("public key PEM %q", b)
	}
	k, err := x509.ParsePKIXPublicKey(blk.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestMintersMakeTokensTheServerAccepts(t *testing.T) {
	secret := []byte(strings.Repeat("s", 32))
	hs, err := NewHS256Minter(secret)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := hs.PublicKeyPEM(); err == nil {
		t.Fatal("HS256 PublicKeyPEM: want an error")
	}
	rk, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	rs, err := NewKeyMinter(writePEM(t, "RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(rk)))
	if err != nil {
		t.Fatal(err)
	}
	ek, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalECPrivateKey(ek)
	if err != nil {
		t.Fatal(err)
	}
	es, err := NewKeyMinter(writePEM(t, "EC PRIVATE KEY", der))
	if err != nil {
		t.Fatal(err)
	}
	p8, err := x509.MarshalPKCS8PrivateKey(ek)
	if err != nil {
		t.Fatal(err)
	}
	es8, err := NewKeyMinter(writePEM(t, "PRIVATE KEY", p8))
	if err != nil {
		t.Fatal(err)
	}
	f := func(m *Minter, alg string, key any) {
		t.Helper()
		if m.Alg() != alg {
			t.Fatalf("Alg %s, want %s", m.Alg(), alg)
		}
		var done atomic.Int64
		toks, err := m.MintRange(100, 5, &done)
		if err != nil || len(toks) != 5 || done.Load() != 5 {
			t.Fatalf("MintRange: %d tokens, %d counted, %v", len(toks), done.Load(), err)
		}
		for i, tok := range toks {
			if sub := verify(t, tok, alg, key); sub != UserID(100+i) {
				t.Fatalf("%s token %d: sub %q, want %q", alg, i, sub, UserID(100+i))
			}
		}
	}
	f(hs, "HS256", secret)
	f(rs, "RS256", publicKey(t, rs))
	f(es, "ES256", publicKey(t, es))
	f(es8, "ES256", publicKey(t, es8))
	if UserID(7) != "bench-7" {
		t.Fatalf("UserID(7) = %q", UserID(7))
	}
}

func TestMintersRefuseBadKeys(t *testing.T) {
	f := func(path, want string) {
		t.Helper()
		_, err := NewKeyMinter(path)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Fatalf("NewKeyMinter(%s): %v, want an error with %q", path, err, want)
		}
	}
	if _, err := NewHS256Minter([]byte("short")); err == nil || !strings.Contains(err.Error(), "at least 32") {
		t.Fatalf("short secret: %v", err)
	}
	f(filepath.Join(t.TempDir(), "missing.pem"), "cannot read")
	notPEM := filepath.Join(t.TempDir(), "x.pem")
	if err := os.WriteFile(notPEM, []byte("hello"), 0o600); err != nil {
		t.Fatal(err)
	}
	f(notPEM, "no PEM block")
	ek, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	pub, _ := x509.MarshalPKIXPublicKey(&ek.PublicKey)
	f(writePEM(t, "PUBLIC KEY", pub), "is not a private key")
	f(writePEM(t, "PRIVATE KEY", []byte("garbage")), "cannot parse")
	small, _ := rsa.GenerateKey(rand.Reader, 1024)
	f(writePEM(t, "RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(small)), "needs at least 2048 bits")
	p384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	der, _ := x509.MarshalECPrivateKey(p384)
	f(writePEM(t, "EC PRIVATE KEY", der), "ES256 needs P-256")
}

func TestAppendRequest(t *testing.T) {
	tg, err := ParseTarget("ws://127.0.0.1:9/ws")
	if err != nil {
		t.Fatal(err)
	}
	head := upgradeHead(tg)
	plain := string(appendRequest(nil, head, ""))
	if !strings.HasPrefix(plain, "GET /ws HTTP/1.1\r\nHost: 127.0.0.1:9\r\n") || !strings.HasSuffix(plain, "Sec-WebSocket-Version: 13\r\n\r\n") ||
		strings.Contains(plain, "Sec-WebSocket-Protocol") {
		t.Fatalf("request without a token:\n%q", plain)
	}
	withTok := string(appendRequest(nil, head, "a.b.c"))
	if !strings.HasSuffix(withTok, "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: token.a.b.c\r\n\r\n") {
		t.Fatalf("request with a token:\n%q", withTok)
	}
}
