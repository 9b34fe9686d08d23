//go:build linux

package app

import (
	"bytes"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/gorilla/websocket"

	"c1m/internal/c1mtest"
	"c1m/server"
	"c1m/wsproto"
)

// TestRateLimitSurvivesReconnect: the token bucket belongs to the user id,
// not the connection: a user who spent its burst and reconnects gets no new
// burst, and its devices share one bucket.
func TestRateLimitSurvivesReconnect(t *testing.T) {
	ta := startApp(t, Config{RateBurst: 5, RateRefill: 0.001}, server.Config{}, APIConfig{})
	msgs := func(n int) []string {
		m := make([]string, n)
		for i := range m {
			m[i] = `{"type":"join","room":"r"}`
		}
		return m
	}
	count := func(c *rawApp, n int) (passed, limited int) {
		t.Helper()
		for i := 0; i < n; i++ {
			f := c.nextFrame()
			switch {
			case f.Type == "joined":
				passed++
			case f.Type == "error" && f.Code == "rate_limited":
				limited++
			default:
				t.Fatalf("unexpected %+v", f)
			}
		}
		return passed, limited
	}
	a := dialRawApp(t, ta.s, "alice", 0)
	a.sendAll(msgs(5)...)
	if p, _ := count(a, 5); p != 5 {
		t.Fatalf("first connection: %d of its burst of 5 passed", p)
	}
	a.Close()
	c1mtest.Eventually(t, 5*time.Second, func() bool { return ta.s.Stats().Open == 0 }, c1mtest.Say("alice's first connection to close"))
	// Reconnected: the bucket is still empty.
	a2 := dialRawApp(t, ta.s, "alice", 0)
	a2.sendAll(msgs(3)...)
	if p, l := count(a2, 3); p != 0 || l != 3 {
		t.Fatalf("after reconnecting: %d passed, %d rate limited; want 0 and 3 (no new burst)", p, l)
	}
	if got := metric(t, ta.s, "c1m_reconnects_total"); got != 1 {
		t.Fatalf("c1m_reconnects_total = %v, want 1", got)
	}
	// Another user is not affected, and two devices of one user share.
	b1, b2 := dialRawApp(t, ta.s, "bob", 0), dialRawApp(t, ta.s, "bob", 0)
	b1.sendAll(msgs(3)...)
	if p, _ := count(b1, 3); p != 3 {
		t.Fatalf("bob's first device: %d of 3 passed", p)
	}
	b2.sendAll(msgs(3)...)
	if p, l := count(b2, 3); p != 2 || l != 1 {
		t.Fatalf("bob's second device: %d passed, %d limited; want 2 and 1 (the burst of 5 is shared)", p, l)
	}
}

// TestConnsPerUser: a user's connection past --conns-per-user closes the
// user's oldest with 1008; the others stay.
func TestConnsPerUser(t *testing.T) {
	ta := startApp(t, Config{ConnsPerUser: 2}, server.Config{}, APIConfig{})
	first := dialRawApp(t, ta.s, "carol", 0)
	second := dialRawApp(t, ta.s, "carol", 0)
	c1mtest.Eventually(t, 5*time.Second, func() bool { return len(ta.app.Hub().Devices("carol")) == 2 }, c1mtest.Say("carol's 2 devices"))
	third := dialRawApp(t, ta.s, "carol", 0)
	m, ok := first.next()
	if !ok || m.Op != wsproto.OpClose || m.Code != wsproto.ClosePolicyViolation || !strings.Contains(m.Reason, "newer connection") {
		t.Fatalf("the oldest got %+v (ok %v), want close 1008 naming the newer connection", m, ok)
	}
	c1mtest.Eventually(t, 5*time.Second, func() bool { return len(ta.app.Hub().Devices("carol")) == 2 }, c1mtest.Say("carol back at 2 devices"))
	for _, c := range []*rawApp{second, third} {
		c.sendAll(`{"type":"join","room":"x"}`)
		if f := c.nextFrame(); f.Type != "joined" {
			t.Fatalf("a newer device got %+v, want joined", f)
		}
	}
}

// TestDirectMessageAckHidesPresence: the ack of a direct message is the
// same whether the recipient is online or not (no seq), and the token's
// dm claim limits who may be messaged.
func TestDirectMessageAckHidesPresence(t *testing.T) {
	secret := []byte("a-secret-of-at-least-32-bytes-long!!")
	hs, err := server.NewHS256(secret)
	if err != nil {
		t.Fatal(err)
	}
	ta := startApp(t, Config{}, server.Config{Auth: hs}, APIConfig{})
	exp := time.Now().Add(time.Hour).Unix()
	dial := func(sub string, dm any) *websocket.Conn {
		t.Helper()
		claims := jwt.MapClaims{"sub": sub, "exp": exp}
		if dm != nil {
			claims["dm"] = dm
		}
		d := websocket.Dialer{Subprotocols: []string{"token." + sign(t, jwt.SigningMethodHS256, secret, claims)}}
		c, _, err := d.Dial(wsURL(ta.s), nil)
		if err != nil {
			t.Fatalf("dial %s: %v", sub, err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	alice := dial("alice", nil)
	_ = dial("bob", nil) // online
	send(t, alice, `{"type":"direct_message","to":"bob","data":1,"id":1}`)
	online := readFrame(t, alice)
	send(t, alice, `{"type":"direct_message","to":"nobody","data":1,"id":1}`)
	offline := readFrame(t, alice)
	if online.Type != "ack" || offline.Type != "ack" || online.Seq != 0 || offline.Seq != 0 {
		t.Fatalf("acks online %+v, offline %+v: want the same ack, without seq", online, offline)
	}
	// "dm": false forbids direct messages; a list allows those users only.
	none := dial("mute", false)
	send(t, none, `{"type":"direct_message","to":"bob","data":1,"id":2}`)
	if f := readFrame(t, none); f.Type != "error" || f.Code != "forbidden" {
		t.Fatalf(`"dm": false: %+v, want error forbidden`, f)
	}
	some := dial("agent", []string{"support-*"})
	send(t, some, `{"type":"direct_message","to":"bob","data":1,"id":3}`)
	if f := readFrame(t, some); f.Type != "error" || f.Code != "forbidden" {
		t.Fatalf(`"dm": ["support-*"] to bob: %+v, want error forbidden`, f)
	}
	send(t, some, `{"type":"direct_message","to":"support-7","data":1,"id":4}`)
	if f := readFrame(t, some); f.Type != "ack" {
		t.Fatalf(`"dm": ["support-*"] to support-7: %+v, want ack`, f)
	}
}

// TestAPIGuard: without a key the API refuses other hosts (DNS rebinding)
// and other origins (cross-site posts), and every POST must be JSON.
func TestAPIGuard(t *testing.T) {
	ta := startApp(t, Config{}, server.Config{}, APIConfig{})
	do := func(method, path, host, origin, ctype, body string) (int, string) {
		t.Helper()
		req, err := http.NewRequest(method, ta.apiURL(path), strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		if host != "" {
			req.Host = host
		}
		if origin != "" {
			req.Header.Set("Origin", origin)
		}
		if ctype != "" {
			req.Header.Set("Content-Type", ctype)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var b bytes.Buffer
		_, _ = b.ReadFrom(resp.Body)
		return resp.StatusCode, b.String()
	}
	port := ta.app.APIAddr()[strings.LastIndexByte(ta.app.APIAddr(), ':'):]
	pub := `{"all":true,"data":1}`
	f := func(name string, gotCode int, body string, want int, wantErr string) {
		t.Helper()
		if gotCode != want || !strings.Contains(body, wantErr) {
			t.Fatalf("%s: %d %s, want %d %s", name, gotCode, body, want, wantErr)
		}
	}
	c, b := do("POST", "/v1/publish", "", "", "text/plain", pub)
	f("text/plain POST", c, b, 415, "unsupported_media_type")
	c, b = do("POST", "/v1/publish", "", "", "application/x-www-form-urlencoded", pub)
	f("form POST", c, b, 415, "unsupported_media_type")
	c, b = do("POST", "/v1/publish", "evil.example"+port, "", "application/json", pub)
	f("rebound Host", c, b, 421, "bad_host")
	c, b = do("GET", "/v1/stats", "attacker.example", "", "", "")
	f("rebound Host GET", c, b, 421, "bad_host")
	c, b = do("POST", "/v1/publish", "", "https://evil.example", "application/json", pub)
	f("cross-site POST", c, b, 403, "cross_origin")
	// The API's own page, localhost and [::1] as names, and no Origin at
	// all (curl, a back end) pass.
	c, b = do("POST", "/v1/publish", "", "http://"+ta.app.APIAddr(), "application/json", pub)
	f("same origin", c, b, 202, "seq")
	c, b = do("GET", "/v1/stats", "localhost"+port, "", "", "")
	f("localhost", c, b, 200, "connections")
	c, b = do("GET", "/v1/stats", "[::1]"+port, "", "", "")
	f("[::1]", c, b, 200, "connections")
}

// TestJWTAudienceIssuerAndExpiry: with --jwt-audience and --jwt-issuer,
// tokens for another audience or from another issuer are refused (401,
// counted); with --jwt-expire-close a connection is closed 4001 when its
// token expires.
func TestJWTAudienceIssuerAndExpiry(t *testing.T) {
	secret := []byte("a-secret-of-at-least-32-bytes-long!!")
	hs, err := server.NewHS256(secret, server.JWTOptions{Audience: "chat", Issuer: "https://id.example"})
	if err != nil {
		t.Fatal(err)
	}
	ta := startApp(t, Config{ExpireClose: true}, server.Config{Auth: hs}, APIConfig{})
	tok := func(aud, iss string, exp time.Time) string {
		return sign(t, jwt.SigningMethodHS256, secret, jwt.MapClaims{"sub": "u", "exp": exp.Unix(), "aud": aud, "iss": iss})
	}
	later := time.Now().Add(time.Hour)
	dial := func(token string) (*websocket.Conn, *http.Response, error) {
		d := websocket.Dialer{Subprotocols: []string{"token." + token}}
		return d.Dial(wsURL(ta.s), nil)
	}
	for _, c := range []struct{ name, token, reason string }{
		{"other audience", tok("billing", "https://id.example", later), server.AuthAudience},
		{"other issuer", tok("chat", "https://evil.example", later), server.AuthIssuer},
	} {
		before := metric(t, ta.s, `c1m_auth_failures_total{reason="`+c.reason+`"}`)
		_, resp, err := dial(c.token)
		if err == nil || resp == nil || resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("%s: %v %v, want 401", c.name, resp, err)
		}
		if got := metric(t, ta.s, `c1m_auth_failures_total{reason="`+c.reason+`"}`); got != before+1 {
			t.Fatalf("%s: reason %s counted %v times, want %v", c.name, c.reason, got, before+1)
		}
	}
	// The token expires in 2 s (whole seconds: "exp" is in seconds); the
	// connection is closed 4001 then, not at the handshake.
	exp := time.Now().Add(2 * time.Second).Truncate(time.Second).Add(time.Second)
	c, _, err := dial(tok("chat", "https://id.example", exp))
	if err != nil {
		t.Fatalf("a valid token: %v", err)
	}
	defer c.Close()
	_ = c.SetReadDeadline(time.Now().Add(15 * time.Second))
	for {
		_, _, err := c.ReadMessage()
		if err == nil {
			continue
		}
		var ce *websocket.CloseError
		if !errors.As(err, &ce) || ce.Code != 4001 || ce.Text != "token expired" {
			t.Fatalf("the connection ended with %v, want close 4001 \"token expired\"", err)
		}
		break
	}
	if now := time.Now(); now.Before(exp) {
		t.Fatalf("closed at %v, before the token's exp %v", now, exp)
	}
	if n := ta.app.proto.exp.size(); n != 0 {
		t.Fatalf("%d expiries still held after every connection closed", n)
	}
}

// TestAbuseLimitBound: an abuse limit the strike counter cannot reach is
// refused when the App is configured, with one sentence.
func TestAbuseLimitBound(t *testing.T) {
	_, err := New(Config{AbuseLimit: 70_000, API: APIConfig{Addr: "-"}})
	if err == nil || !strings.Contains(err.Error(), "65535") {
		t.Fatalf("New with --abuse-limit 70000: %v, want a refusal naming 65535", err)
	}
	for _, n := range []int{1, 65535} {
		a, err := New(Config{AbuseLimit: n, API: APIConfig{Addr: "-"}, Engine: server.Config{MetricsAddr: "-"}})
		if err != nil {
			t.Fatalf("New with --abuse-limit %d: %v", n, err)
		}
		a.stopBackground()
	}
}
