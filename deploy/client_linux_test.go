//go:build linux

package deploy

// A client's side of the unit's tests: tokens as an issuer signs them, the
// WebSocket handshake with a token, a room join, and the publish API.

import (
	"crypto/ecdsa"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"c1m/internal/c1mtest"
)

// tokenParts returns the signing input of a compact JWT for alg with the
// claims c1m requires: a subject and an expiry.
func tokenParts(t *testing.T, alg string) string {
	t.Helper()
	enc := func(v any) string {
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		return base64.RawURLEncoding.EncodeToString(b)
	}
	return enc(map[string]string{"alg": alg, "typ": "JWT"}) + "." +
		enc(map[string]any{"sub": "unit-test", "exp": time.Now().Add(time.Hour).Unix()})
}

// signHS256 returns an HS256 token signed with secret (RFC 7518 §3.2).
func signHS256(t *testing.T, secret []byte) string {
	t.Helper()
	in := tokenParts(t, "HS256")
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(in))
	return in + "." + base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// signES256 returns an ES256 token signed with key: R and S, 32 bytes
// each, big-endian (RFC 7518 §3.4).
func signES256(t *testing.T, key *ecdsa.PrivateKey) string {
	t.Helper()
	in := tokenParts(t, "ES256")
	h := sha256.Sum256([]byte(in))
	r, s, err := ecdsa.Sign(rand.Reader, key, h[:])
	if err != nil {
		t.Fatal(err)
	}
	sig := make([]byte, 64)
	r.FillBytes(sig[:32])
	s.FillBytes(sig[32:])
	return in + "." + base64.RawURLEncoding.EncodeToString(sig)
}

// tokenHeader offers the token as the subprotocol browsers can send
// (docs/protocol.md).
func tokenHeader(tok string) string { return "Sec-WebSocket-Protocol: token." + tok }

// dialToken upgrades a connection to addr and path with tok; it fails
// the test unless the server answers 101. Reads wait at most 30 s, a guard
// that covers a drain's --drain-delay.
func dialToken(t *testing.T, addr, path, tok string) *c1mtest.RawClient {
	t.Helper()
	c, err := c1mtest.DialWS(addr, path, c1mtest.DialOptions{ReadTimeout: 30 * time.Second}, tokenHeader(tok))
	if err != nil {
		t.Fatalf("upgrade with a valid token: %v", err)
	}
	return c
}

// refusedStatus tries to upgrade with tok and returns the HTTP status; it
// fails the test if the upgrade succeeds.
func refusedStatus(t *testing.T, addr, path, tok string) int {
	t.Helper()
	c, err := c1mtest.Dial(addr, c1mtest.DialOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	// The refusal's one-sentence body follows the head, and the client
	// takes it for frames: only the status counts here.
	status, _, err := c.Upgrade(path, tokenHeader(tok))
	if status == 0 || status == http.StatusSwitchingProtocols {
		t.Fatalf("upgrade with a bad token: status %d, %v; want a refusal", status, err)
	}
	return status
}

// joinLobby joins the room "lobby" and waits for the "joined" answer.
func joinLobby(t *testing.T, c *c1mtest.RawClient) {
	t.Helper()
	if err := c.SendText(`{"type":"join","room":"lobby","id":1}`); err != nil {
		t.Fatal(err)
	}
	msg, err := c.NextMessage()
	if err != nil || !strings.Contains(string(msg), `"type":"joined"`) {
		t.Fatalf("join: got %q, %v; want joined", msg, err)
	}
}

// publish posts a message to "lobby" on the API at addr with key as the
// bearer ("" sends none) and returns the status.
func publish(t *testing.T, addr, key string) int {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, "http://"+addr+"/v1/publish",
		strings.NewReader(`{"room":"lobby","data":{"text":"from the unit test"}}`))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	hc := http.Client{Timeout: 10 * time.Second}
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatalf("publish: %v", err)
	}
	resp.Body.Close()
	return resp.StatusCode
}
