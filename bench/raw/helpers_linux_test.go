//go:build linux

package raw

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// startServer starts a server on loopback port 0 and shuts it down at the
// end of the test.
func startServer(t *testing.T, cfg Config) *Server {
	t.Helper()
	if cfg.Addr == "" {
		cfg.Addr = "127.0.0.1:0"
	}
	if cfg.APIAddr == "" {
		cfg.APIAddr = "127.0.0.1:0"
	}
	s, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	if err := s.Start(); err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := s.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
	})
	return s
}

// httpClient keeps no idle connections, so that it leaves no goroutines
// behind.
var httpClient = &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}

// apiDo sends a request to the server's API and returns status and body.
func apiDo(t *testing.T, s *Server, method, path, key, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, "http://"+s.APIAddr()+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	resp, err := httpClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: cannot read the body: %v", method, path, err)
	}
	return resp.StatusCode, string(b)
}

// publish publishes data to everyone through the API and returns the seq.
func publish(t *testing.T, s *Server, data string) uint64 {
	t.Helper()
	code, body := apiDo(t, s, "POST", "/v1/publish", s.cfg.APIKey, `{"all":true,"data":`+data+`}`)
	if code != http.StatusAccepted {
		t.Fatalf("publish: status %d, body %s", code, body)
	}
	var r struct{ Seq uint64 }
	if err := json.Unmarshal([]byte(body), &r); err != nil || r.Seq == 0 {
		t.Fatalf("publish: body %q: %v", body, err)
	}
	return r.Seq
}

// dial opens a gorilla client to s (SO_RCVBUF rcvBuf before connect when
// positive), closed at the end of the test.
func dial(t *testing.T, s *Server, path string, rcvBuf int) *websocket.Conn {
	t.Helper()
	c, resp, err := dialErr(s, path, rcvBuf)
	if err != nil {
		status := 0
		if resp != nil {
			status = resp.StatusCode
		}
		t.Fatalf("dial: %v (status %d)", err, status)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func dialErr(s *Server, path string, rcvBuf int) (*websocket.Conn, *http.Response, error) {
	if path == "" {
		path = DefaultPath
	}
	nd := &net.Dialer{Timeout: 5 * time.Second}
	if rcvBuf > 0 {
		nd.Control = func(network, address string, rc syscall.RawConn) error {
			var serr error
			err := rc.Control(func(fd uintptr) {
				serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, rcvBuf)
			})
			if err != nil {
				return err
			}
			return serr
		}
	}
	d := websocket.Dialer{NetDialContext: nd.DialContext, HandshakeTimeout: 5 * time.Second}
	c, resp, err := d.Dial("ws://"+s.Addr()+path, nil)
	if resp != nil && resp.Body != nil {
		resp.Body.Close()
	}
	return c, resp, err
}

// rawRequest sends req on a fresh TCP connection and returns the status
// line of the answer.
func rawRequest(t *testing.T, s *Server, req string) string {
	t.Helper()
	c, err := net.DialTimeout("tcp", s.Addr(), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(c, req); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		t.Fatalf("no answer to %.40q: %v", req, err)
	}
	return strings.TrimSpace(line)
}

// waitFor polls cond every 5 ms until it holds or d passes.
func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// checkMessage checks raw against the exact frame c1m sends to everyone
// for seq and data.
func checkMessage(raw []byte, seq uint64, data string) error {
	prefix := fmt.Sprintf(`{"type":"message","room":"*","all":true,"from":"api","seq":%d,"ts":`, seq)
	suffix := `,"data":` + data + `}`
	if !bytes.HasPrefix(raw, []byte(prefix)) || !bytes.HasSuffix(raw, []byte(suffix)) {
		return fmt.Errorf("message %s, want %s<ts>%s", raw, prefix, suffix)
	}
	if !json.Valid(raw) {
		return fmt.Errorf("message %s is not JSON", raw)
	}
	return nil
}

// reader reads broadcasts on c in its own goroutine and checks that they
// come in seq order from 1; last is the last seq seen.
type reader struct {
	mu   sync.Mutex
	last uint64
	err  error
}

func startReader(c *websocket.Conn) *reader {
	r := &reader{}
	go func() {
		for {
			_, raw, err := c.ReadMessage()
			if err != nil {
				return
			}
			var m struct{ Seq uint64 }
			err = json.Unmarshal(raw, &m)
			r.mu.Lock()
			switch {
			case err != nil:
				r.err = fmt.Errorf("cannot parse %q: %v", raw, err)
			case m.Seq != r.last+1:
				r.err = fmt.Errorf("seq %d after %d", m.Seq, r.last)
			}
			r.last = m.Seq
			r.mu.Unlock()
		}
	}()
	return r
}

func (r *reader) state() (uint64, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.last, r.err
}

// metric returns the value of the named series in s's /metrics.
func metric(t *testing.T, s *Server, name string) string {
	t.Helper()
	code, body := apiDo(t, s, "GET", "/metrics", "", "")
	if code != http.StatusOK {
		t.Fatalf("GET /metrics: status %d", code)
	}
	for _, line := range strings.Split(body, "\n") {
		if v, ok := strings.CutPrefix(line, name+" "); ok {
			return v
		}
	}
	return ""
}
