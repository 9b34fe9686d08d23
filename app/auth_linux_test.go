//go:build linux

package app

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"c1m/server"

	"github.com/golang-jwt/jwt/v5"
	"github.com/gorilla/websocket"
)

// writePublicKeyPEM writes pub as a PEM "PUBLIC KEY" file and returns its
// path and bytes.
func writePublicKeyPEM(t *testing.T, pub any) (string, []byte) {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	b := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
	p := filepath.Join(t.TempDir(), "key.pem")
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return p, b
}

// sign builds a token with the given claims (nil values are left out).
func sign(t *testing.T, m jwt.SigningMethod, key any, claims jwt.MapClaims) string {
	t.Helper()
	s, err := jwt.NewWithClaims(m, claims).SignedString(key)
	if err != nil {
		t.Fatalf("sign %s: %v", m.Alg(), err)
	}
	return s
}

// unsigned builds an "alg":"none" token by hand (golang-jwt will only make
// one with its UnsafeAllowNoneSignatureType key, which is the point).
func unsigned(claims string) string {
	enc := base64.RawURLEncoding.EncodeToString
	return enc([]byte(`{"alg":"none","typ":"JWT"}`)) + "." + enc([]byte(claims)) + "."
}

func TestAuth(t *testing.T) {
	secret := []byte("0123456789abcdef0123456789abcdef-test")
	if _, err := server.NewHS256(secret[:31]); err == nil {
		t.Fatalf("server.NewHS256 accepted a 31-byte secret")
	}
	hs, err := server.NewHS256(secret)
	if err != nil {
		t.Fatal(err)
	}
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	rsaPath, rsaPEM := writePublicKeyPEM(t, &rsaKey.PublicKey)
	rs, err := server.NewPublicKeyAuth(rsaPath)
	if err != nil {
		t.Fatal(err)
	}
	ecKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	ecPath, _ := writePublicKeyPEM(t, &ecKey.PublicKey)
	es, err := server.NewPublicKeyAuth(ecPath)
	if err != nil {
		t.Fatal(err)
	}
	if hs.Algorithm() != "HS256" || rs.Algorithm() != "RS256" || es.Algorithm() != "ES256" {
		t.Fatalf("algorithms %s %s %s", hs.Algorithm(), rs.Algorithm(), es.Algorithm())
	}
	otherRSA, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	otherEC, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}

	exp := time.Now().Add(time.Hour).Unix()
	good := func(sub string) jwt.MapClaims {
		return jwt.MapClaims{"sub": sub, "exp": exp, "rooms": []string{"chat-*"}}
	}

	type target struct {
		name   string
		ta     *testApp
		method jwt.SigningMethod
		key    any // signing key of a valid token
		wrong  any // same algorithm, wrong key
	}
	servers := []target{
		{"HS256", startApp(t, Config{}, server.Config{Auth: hs}, APIConfig{}), jwt.SigningMethodHS256, secret, []byte("another-secret-of-32-bytes-or-more!!")},
		{"RS256", startApp(t, Config{}, server.Config{Auth: rs}, APIConfig{}), jwt.SigningMethodRS256, rsaKey, otherRSA},
		{"ES256", startApp(t, Config{}, server.Config{Auth: es}, APIConfig{}), jwt.SigningMethodES256, ecKey, otherEC},
	}

	// ok dials with token in the subprotocol and checks the echo.
	ok := func(t *testing.T, ta *testApp, token string) *websocket.Conn {
		t.Helper()
		d := websocket.Dialer{Subprotocols: []string{"token." + token}}
		c, resp, err := d.Dial(wsURL(ta.s), nil)
		if err != nil {
			t.Fatalf("dial with a valid token: %v (resp %v)", err, resp)
		}
		t.Cleanup(func() { c.Close() })
		if got := resp.Header.Get("Sec-WebSocket-Protocol"); got != "token."+token {
			t.Fatalf("Sec-WebSocket-Protocol %q, want the offered token.<jwt>", got)
		}
		if c.Subprotocol() != "token."+token {
			t.Fatalf("negotiated subprotocol %q", c.Subprotocol())
		}
		return c
	}
	// refused dials and expects 401 before the upgrade, counted once under
	// reason and under nothing else.
	refused := func(t *testing.T, ta *testApp, u string, protocols []string, reason string) {
		t.Helper()
		before := map[string]float64{}
		for _, r := range server.AuthReasons() {
			before[r] = metric(t, ta.s, `c1m_auth_failures_total{reason="`+r+`"}`)
		}
		hsBefore := metric(t, ta.s, `c1m_handshake_failures_total{reason="unauthorized"}`)
		d := websocket.Dialer{Subprotocols: protocols}
		c, resp, err := d.Dial(u, nil)
		if err == nil {
			c.Close()
			t.Fatalf("%s: the upgrade succeeded, want 401", reason)
		}
		if resp == nil || resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("%s: %v (resp %v), want HTTP 401", reason, err, resp)
		}
		for _, r := range server.AuthReasons() {
			want := before[r]
			if r == reason {
				want++
			}
			if got := metric(t, ta.s, `c1m_auth_failures_total{reason="`+r+`"}`); got != want {
				t.Errorf("%s: c1m_auth_failures_total{reason=%q} = %v, want %v", reason, r, got, want)
			}
		}
		if got := metric(t, ta.s, `c1m_handshake_failures_total{reason="unauthorized"}`); got != hsBefore+1 {
			t.Errorf("%s: c1m_handshake_failures_total{reason=unauthorized} = %v, want %v", reason, got, hsBefore+1)
		}
	}

	for _, sv := range servers {
		t.Run(sv.name, func(t *testing.T) {
			ta := sv.ta
			u := wsURL(ta.s)
			bad := func(token, reason string) {
				t.Helper()
				refused(t, ta, u, []string{"token." + token}, reason)
			}

			// A valid token: joins what its rooms claim allows, gets
			// "forbidden" for the rest, and its user is its sub.
			c := ok(t, ta, sign(t, sv.method, sv.key, good("alice")))
			if n := join(t, c, "chat-1", false); n != 1 {
				t.Fatalf("count %d", n)
			}
			send(t, c, `{"type":"join","room":"admin"}`)
			expectError(t, c, "forbidden")
			send(t, c, `{"type":"room_message","room":"admin","data":1}`)
			expectError(t, c, "forbidden")
			send(t, c, `{"type":"room_message","room":"chat-1","data":{"hi":1}}`)
			if f := readFrame(t, c); f.Type != "message" || f.From != "alice" || f.Seq != 1 {
				t.Fatalf("own room message: %+v", f)
			}
			if devs := ta.app.Hub().Devices("alice"); len(devs) != 1 {
				t.Fatalf("alice has %d devices in the hub, want 1", len(devs))
			}
			// No rooms claim: any room.
			any := ok(t, ta, sign(t, sv.method, sv.key, jwt.MapClaims{"sub": "bob", "exp": exp}))
			join(t, any, "admin", false)
			// "rooms": []: no room.
			none := ok(t, ta, sign(t, sv.method, sv.key, jwt.MapClaims{"sub": "carol", "exp": exp, "rooms": []string{}}))
			send(t, none, `{"type":"join","room":"chat-1"}`)
			expectError(t, none, "forbidden")

			bad(sign(t, sv.method, sv.key, jwt.MapClaims{"sub": "alice", "exp": time.Now().Add(-time.Hour).Unix()}), server.AuthExpired)
			bad(sign(t, sv.method, sv.wrong, good("alice")), server.AuthBadSignature)
			bad(unsigned(`{"sub":"alice","exp":`+strconv.FormatInt(exp, 10)+`}`), server.AuthBadAlgorithm)
			bad(sign(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, good("alice")), server.AuthBadAlgorithm)
			bad(sign(t, sv.method, sv.key, jwt.MapClaims{"exp": exp}), server.AuthNoSubject)
			bad(sign(t, sv.method, sv.key, jwt.MapClaims{"sub": "", "exp": exp}), server.AuthNoSubject)
			bad(sign(t, sv.method, sv.key, jwt.MapClaims{"sub": "alice"}), server.AuthNoExpiry)
			bad(sign(t, sv.method, sv.key, jwt.MapClaims{"sub": "alice", "exp": exp, "rooms": []string{"[bad"}}), server.AuthBadClaims)
			bad(sign(t, sv.method, sv.key, jwt.MapClaims{"sub": "alice", "exp": exp, "rooms": "chat-*"}), server.AuthBadClaims)
			bad(sign(t, sv.method, sv.key, jwt.MapClaims{"sub": "alice", "exp": exp, "nbf": time.Now().Add(time.Hour).Unix()}), server.AuthBadClaims)
			bad("garbage", server.AuthMalformed)
			bad("a.b.c", server.AuthMalformed)
			bad("", server.AuthMissing)
			refused(t, ta, u, nil, server.AuthMissing)
			// A different algorithm than the pinned one.
			if sv.name == "HS256" {
				bad(sign(t, jwt.SigningMethodRS256, rsaKey, good("alice")), server.AuthBadAlgorithm)
				bad(sign(t, jwt.SigningMethodHS384, secret, good("alice")), server.AuthBadAlgorithm)
			} else {
				bad(sign(t, jwt.SigningMethodHS256, secret, good("alice")), server.AuthBadAlgorithm)
				// Algorithm confusion: HS256 keyed with the public key.
				bad(sign(t, jwt.SigningMethodHS256, rsaPEM, good("alice")), server.AuthBadAlgorithm)
			}
			if sv.name == "RS256" {
				bad(sign(t, jwt.SigningMethodES256, ecKey, good("alice")), server.AuthBadAlgorithm)
				bad(sign(t, jwt.SigningMethodPS256, rsaKey, good("alice")), server.AuthBadAlgorithm)
				bad(sign(t, jwt.SigningMethodRS512, rsaKey, good("alice")), server.AuthBadAlgorithm)
			}
			if sv.name == "ES256" {
				bad(sign(t, jwt.SigningMethodRS256, rsaKey, good("alice")), server.AuthBadAlgorithm)
			}
			// Without AllowQueryToken the query parameter is ignored.
			refused(t, ta, u+"?access_token="+url.QueryEscape(sign(t, sv.method, sv.key, good("alice"))), nil, server.AuthMissing)
			if got := ta.s.Stats().Open; got != 3 {
				t.Fatalf("open connections %d, want the 3 valid ones", got)
			}
		})
	}

	t.Run("query-token", func(t *testing.T) {
		ta := startApp(t, Config{}, server.Config{Auth: hs, AllowQueryToken: true}, APIConfig{})
		tok := sign(t, jwt.SigningMethodHS256, secret, good("dave"))
		c, resp, err := websocket.DefaultDialer.Dial(wsURL(ta.s)+"?x=1&access_token="+url.QueryEscape(tok), nil)
		if err != nil {
			t.Fatalf("dial with access_token: %v (resp %v)", err, resp)
		}
		defer c.Close()
		if got := resp.Header.Get("Sec-WebSocket-Protocol"); got != "" {
			t.Fatalf("Sec-WebSocket-Protocol %q without one offered", got)
		}
		join(t, c, "chat-q", false)
		if devs := ta.app.Hub().Devices("dave"); len(devs) != 1 {
			t.Fatalf("dave has %d devices, want 1", len(devs))
		}
		refused(t, ta, wsURL(ta.s)+"?access_token="+url.QueryEscape(sign(t, jwt.SigningMethodHS256, []byte("another-secret-of-32-bytes-or-more!!"), good("dave"))), nil, server.AuthBadSignature)
		refused(t, ta, wsURL(ta.s)+"?access_token=", nil, server.AuthMissing)
		// The subprotocol wins over the query parameter.
		refused(t, ta, wsURL(ta.s)+"?access_token="+url.QueryEscape(tok), []string{"token.garbage"}, server.AuthMalformed)
		// Anonymous-mode "user" is not honoured with auth on.
		c2, _, err := websocket.DefaultDialer.Dial(wsURL(ta.s)+"?user=mallory&access_token="+url.QueryEscape(tok), nil)
		if err != nil {
			t.Fatal(err)
		}
		defer c2.Close()
		join(t, c2, "chat-q", false)
		if devs := ta.app.Hub().Devices("mallory"); len(devs) != 0 {
			t.Fatalf("?user= set the user id with auth on")
		}
	})

	t.Run("origin", func(t *testing.T) {
		ta := startApp(t, Config{}, server.Config{AllowedOrigins: []string{"https://ok.example", "https://also.example"}}, APIConfig{})
		f := func(origin string, status int) {
			t.Helper()
			h := http.Header{}
			if origin != "" {
				h.Set("Origin", origin)
			}
			before := metric(t, ta.s, `c1m_auth_failures_total{reason="origin"}`)
			c, resp, err := websocket.DefaultDialer.Dial(wsURL(ta.s)+"?user=o", h)
			if status == 101 {
				if err != nil {
					t.Fatalf("origin %q: %v (resp %v), want 101", origin, err, resp)
				}
				join(t, c, "r", false)
				c.Close()
				if got := metric(t, ta.s, `c1m_auth_failures_total{reason="origin"}`); got != before {
					t.Fatalf("origin %q accepted but counted as a failure", origin)
				}
				return
			}
			if err == nil {
				c.Close()
				t.Fatalf("origin %q: upgraded, want %d", origin, status)
			}
			if resp == nil || resp.StatusCode != status {
				t.Fatalf("origin %q: %v (resp %v), want %d", origin, err, resp, status)
			}
			if got := metric(t, ta.s, `c1m_auth_failures_total{reason="origin"}`); got != before+1 {
				t.Fatalf("origin %q: c1m_auth_failures_total{reason=origin} = %v, want %v", origin, got, before+1)
			}
		}
		f("https://ok.example", 101)
		f("https://also.example", 101)
		f("", 101)
		f("https://evil.example", 403)
		f("https://ok.example.evil", 403)
		f("http://ok.example", 403)
		f("null", 403)
	})
}
