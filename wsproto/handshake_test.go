package wsproto

import (
	"errors"
	"strings"
	"testing"

	"github.com/gobwas/ws"
)

// reqHead builds a request head from a request line and header lines.
func reqHead(line string, headers ...string) []byte {
	return []byte(line + "\r\n" + strings.Join(headers, "\r\n") + "\r\n\r\n")
}

var okHeaders = []string{
	"Host: example.com",
	"Upgrade: websocket",
	"Connection: Upgrade",
	"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
	"Sec-WebSocket-Version: 13",
}

func without(name string, extra ...string) []string {
	var hs []string
	for _, h := range okHeaders {
		if !strings.HasPrefix(h, name+":") {
			hs = append(hs, h)
		}
	}
	return append(hs, extra...)
}

func TestRequestEnd(t *testing.T) {
	f := func(in string, want int) {
		t.Helper()
		if got := RequestEnd([]byte(in)); got != want {
			t.Fatalf("RequestEnd(%q) = %d, want %d", in, got, want)
		}
	}
	f("", -1)
	f("GET / HTTP/1.1\r\nHost: x\r\n", -1)
	f("GET / HTTP/1.1\r\n\r\n", 18)
	f("GET / HTTP/1.1\r\n\r\nextra", 18)
}

func TestUpgradeOK(t *testing.T) {
	u := &Upgrader{Path: "/ws"}
	resp, hs, err := u.Upgrade(reqHead("GET /ws?token=abc HTTP/1.1", okHeaders...), []byte("pre"))
	if err != nil {
		t.Fatal(err)
	}
	// RFC 6455 §1.3 example key and accept value.
	want := "preHTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n"
	if string(resp) != want {
		t.Fatalf("response\n%q\nwant\n%q", resp, want)
	}
	if hs.Protocol != "" {
		t.Fatalf("protocol %q", hs.Protocol)
	}
}

func TestUpgradeHooks(t *testing.T) {
	var seen []string
	var uri string
	u := &Upgrader{
		OnRequest: func(b []byte) error { uri = string(b); return nil },
		OnHeader: func(k, v []byte) error {
			seen = append(seen, string(k)+"="+string(v))
			if string(k) == "Origin" && string(v) != "https://good.example" {
				return errors.New("bad origin")
			}
			return nil
		},
		Protocol: func(p []byte) bool { return string(p) == "chat.v2" },
	}
	resp, hs, err := u.Upgrade(reqHead("GET /any?x=1 HTTP/1.1", append(okHeaders, "Origin: https://good.example", "Sec-WebSocket-Protocol: chat.v1, chat.v2")...), nil)
	if err != nil {
		t.Fatal(err)
	}
	if hs.Protocol != "chat.v2" || !strings.Contains(string(resp), "Sec-WebSocket-Protocol: chat.v2\r\n") {
		t.Fatalf("protocol %q, response %q", hs.Protocol, resp)
	}
	if uri != "/any?x=1" || strings.Join(seen, " ") != "Host=example.com Origin=https://good.example" {
		t.Fatalf("uri %q headers %q", uri, seen)
	}

	// A hook rejection: 403 wrapping the hook's error.
	resp, _, err = u.Upgrade(reqHead("GET / HTTP/1.1", append(okHeaders, "Origin: https://evil.example")...), nil)
	var he *HandshakeError
	if !errors.As(err, &he) || he.Status != 403 || he.Err == nil || he.Err.Error() != "bad origin" {
		t.Fatalf("err %v", err)
	}
	if !strings.HasPrefix(string(resp), "HTTP/1.1 403 Forbidden\r\n") {
		t.Fatalf("response %q", resp)
	}

	// A hook choosing its status, with a gobwas rejection or our own type.
	u.OnRequest = func([]byte) error { return ws.RejectConnectionError(ws.RejectionStatus(401)) }
	if _, _, err := u.Upgrade(reqHead("GET / HTTP/1.1", okHeaders...), nil); !errors.As(err, &he) || he.Status != 401 {
		t.Fatalf("err %v", err)
	}
	u.OnRequest = func([]byte) error { return ErrHandshakeNotFound }
	if _, _, err := u.Upgrade(reqHead("GET / HTTP/1.1", okHeaders...), nil); err != ErrHandshakeNotFound {
		t.Fatalf("err %v", err)
	}
}

func TestUpgradeRejections(t *testing.T) {
	f := func(name string, req []byte, wantErr *HandshakeError, wantInResponse string) {
		t.Helper()
		u := &Upgrader{Path: "/ws", MaxHeaderBytes: 512}
		resp, _, err := u.Upgrade(req, []byte("pre"))
		if err != wantErr {
			t.Fatalf("%s: err %v, want %v", name, err, wantErr)
		}
		s := string(resp)
		if !strings.HasPrefix(s, "preHTTP/1.1 "+itoaStatus(wantErr.Status)+" ") ||
			!strings.Contains(s, "\r\nConnection: close\r\n") ||
			!strings.Contains(s, wantInResponse) ||
			!strings.HasSuffix(s, "\r\n\r\n"+wantErr.Reason+"\n") {
			t.Fatalf("%s: response %q", name, s)
		}
	}
	f("garbage", []byte("\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n"), ErrHandshakeMalformed, "")
	f("empty head", []byte("\r\n\r\n"), ErrHandshakeMalformed, "")
	f("incomplete", []byte("GET /ws HTTP/1.1\r\nHost: x\r\n"), ErrHandshakeIncomplete, "")
	f("too large", reqHead("GET /ws HTTP/1.1", append(okHeaders, "Cookie: "+strings.Repeat("c", 600))...), ErrHandshakeTooLarge, "")
	f("too large, incomplete", []byte("GET /ws HTTP/1.1\r\nCookie: "+strings.Repeat("c", 600)), ErrHandshakeTooLarge, "")
	f("POST", reqHead("POST /ws HTTP/1.1", okHeaders...), ErrHandshakeMethod, "\r\nAllow: GET\r\n")
	f("HTTP/1.0", reqHead("GET /ws HTTP/1.0", okHeaders...), ErrHandshakeProtocol, "")
	f("HTTP/2.0", reqHead("GET /ws HTTP/2.0", okHeaders...), ErrHandshakeProtocol, "")
	f("no version in request line", reqHead("GET /ws", okHeaders...), ErrHandshakeMalformed, "")
	f("header without colon", reqHead("GET /ws HTTP/1.1", append(okHeaders, "nonsense")...), ErrHandshakeMalformed, "")
	f("wrong path", reqHead("GET /other HTTP/1.1", okHeaders...), ErrHandshakeNotFound, "")
	f("path prefix", reqHead("GET /wsx HTTP/1.1", okHeaders...), ErrHandshakeNotFound, "")
	f("no host", reqHead("GET /ws HTTP/1.1", without("Host")...), ErrHandshakeHost, "")
	f("no upgrade", reqHead("GET /ws HTTP/1.1", without("Upgrade")...), ErrHandshakeUpgrade, "")
	f("bad upgrade", reqHead("GET /ws HTTP/1.1", without("Upgrade", "Upgrade: h2c")...), ErrHandshakeUpgrade, "")
	f("no connection", reqHead("GET /ws HTTP/1.1", without("Connection")...), ErrHandshakeConnection, "")
	f("bad connection", reqHead("GET /ws HTTP/1.1", without("Connection", "Connection: keep-alive")...), ErrHandshakeConnection, "")
	f("no key", reqHead("GET /ws HTTP/1.1", without("Sec-WebSocket-Key")...), ErrHandshakeKey, "")
	f("short key", reqHead("GET /ws HTTP/1.1", without("Sec-WebSocket-Key", "Sec-WebSocket-Key: dGhl")...), ErrHandshakeKey, "")
	f("key not base64", reqHead("GET /ws HTTP/1.1", without("Sec-WebSocket-Key", "Sec-WebSocket-Key: !!!!!!!!!!!!!!!!!!!!!!==")...), ErrHandshakeKey, "")
	f("key of 18 bytes", reqHead("GET /ws HTTP/1.1", without("Sec-WebSocket-Key", "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQAA")...), ErrHandshakeKey, "")
	f("no version", reqHead("GET /ws HTTP/1.1", without("Sec-WebSocket-Version")...), ErrHandshakeNoVersion, "\r\nSec-WebSocket-Version: 13\r\n")
	f("version 8", reqHead("GET /ws HTTP/1.1", without("Sec-WebSocket-Version", "Sec-WebSocket-Version: 8")...), ErrHandshakeVersion, "\r\nSec-WebSocket-Version: 13\r\n")
}

func itoaStatus(s int) string {
	return string([]byte{byte('0' + s/100), byte('0' + s/10%10), byte('0' + s%10)})
}

func TestUpgradeKeyCase(t *testing.T) {
	// Header names are case-insensitive, also for the key check.
	u := &Upgrader{}
	req := reqHead("GET / HTTP/1.1", "host: x", "upgrade: WebSocket", "connection: keep-alive, Upgrade", "SEC-WEBSOCKET-KEY :  dGhlIHNhbXBsZSBub25jZQ==", "sec-websocket-version: 13")
	if _, _, err := u.Upgrade(req, nil); err != nil {
		t.Fatal(err)
	}
}

func TestAppendHTTPError(t *testing.T) {
	f := func(status int, reason, want string) {
		t.Helper()
		if got := string(AppendHTTPError(nil, status, reason)); got != want {
			t.Fatalf("got\n%q\nwant\n%q", got, want)
		}
	}
	f(503, "server at capacity", "HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: 19\r\n\r\nserver at capacity\n")
	f(431, "", "HTTP/1.1 431 Request Header Fields Too Large\r\nConnection: close\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: 32\r\n\r\nRequest Header Fields Too Large\n")
	f(499, "x", "HTTP/1.1 499 Error\r\nConnection: close\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: 2\r\n\r\nx\n")
	if raceEnabled {
		return
	}
	dst := make([]byte, 0, 256)
	if n := testing.AllocsPerRun(100, func() { AppendHTTPError(dst, 408, "handshake timeout") }); n != 0 {
		t.Fatalf("%v allocs", n)
	}
}

// maxUpgradeAllocs is the allocation count of a successful upgrade without
// a subprotocol: none, because the 101 response is written by
// appendSwitching rather than by gobwas/ws (whose writeAccept allocates).
// Choosing a subprotocol adds one (the ws.Handshake.Protocol string).
const maxUpgradeAllocs = 0

// TestUpgradeAccept checks the Sec-WebSocket-Accept value against the
// worked example of RFC 6455 §1.3.
func TestUpgradeAccept(t *testing.T) {
	u := &Upgrader{Path: "/chat"}
	req := []byte("GET /chat HTTP/1.1\r\nHost: server.example.com\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
	resp, _, err := u.Upgrade(req, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
		"Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n"
	if string(resp) != want {
		t.Fatalf("response\n%q\nwant\n%q", resp, want)
	}
	u.Protocol = func(p []byte) bool { return string(p) == "chat" }
	req2 := []byte(strings.Replace(string(req), "\r\n\r\n", "\r\nSec-WebSocket-Protocol: superchat, chat\r\n\r\n", 1))
	resp, hs, err := u.Upgrade(req2, nil)
	if err != nil || hs.Protocol != "chat" || !strings.Contains(string(resp), "\r\nSec-WebSocket-Protocol: chat\r\n") {
		t.Fatalf("subprotocol: %q, %q, %v", resp, hs.Protocol, err)
	}
}

func TestUpgradeAllocs(t *testing.T) {
	skipUnderRace(t)
	u := &Upgrader{Path: "/ws", OnHeader: func(k, v []byte) error { return nil }}
	req := reqHead("GET /ws HTTP/1.1", append(okHeaders, "Origin: https://example.com")...)
	dst := make([]byte, 0, 512)
	run := func() {
		if _, _, err := u.Upgrade(req, dst); err != nil {
			t.Fatal(err)
		}
	}
	run()
	n := testing.AllocsPerRun(1000, run)
	t.Logf("allocs per successful Upgrade: %v", n)
	if n > maxUpgradeAllocs {
		t.Fatalf("%v allocs per Upgrade, want <= %d", n, maxUpgradeAllocs)
	}
}
