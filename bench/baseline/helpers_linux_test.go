//go:build linux

package baseline

import (
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
		_ = s.Shutdown(ctx)
	})
	return s
}

// httpClient keeps no idle connections, so that it leaves no goroutines
// behind for the goroutine-count test.
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

// publish publishes data to everyone and returns the seq.
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

type dialOpts struct {
	path    string
	rcvBuf  int // SO_RCVBUF before connect, 0 for the default
	noClose bool
}

// dial opens a gorilla client to s, closed at the end of the test unless
// noClose.
func dial(t *testing.T, s *Server, o dialOpts) *websocket.Conn {
	t.Helper()
	c, resp, err := dialErr(s, o)
	if err != nil {
		status := 0
		if resp != nil {
			status = resp.StatusCode
		}
		t.Fatalf("dial: %v (status %d)", err, status)
	}
	if !o.noClose {
		t.Cleanup(func() { c.Close() })
	}
	return c
}

func dialErr(s *Server, o dialOpts) (*websocket.Conn, *http.Response, error) {
	path := o.path
	if path == "" {
		path = DefaultPath
	}
	nd := &net.Dialer{Timeout: 5 * time.Second}
	if o.rcvBuf > 0 {
		nd.Control = func(network, address string, rc syscall.RawConn) error {
			var serr error
			err := rc.Control(func(fd uintptr) {
				serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, o.rcvBuf)
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

// message is a received broadcast, parsed.
type message struct {
	Type string          `json:"type"`
	Room string          `json:"room"`
	All  bool            `json:"all"`
	From string          `json:"from"`
	Seq  uint64          `json:"seq"`
	TS   int64           `json:"ts"`
	Data json.RawMessage `json:"data"`
}

// checkMessage checks raw against the exact broadcast shape for seq and
// data, and returns it parsed.
func checkMessage(raw []byte, seq uint64, data string) (message, error) {
	prefix := fmt.Sprintf(`{"type":"message","room":"*","all":true,"from":"api","seq":%d,"ts":`, seq)
	suffix := `,"data":` + data + `}`
	if !bytes.HasPrefix(raw, []byte(prefix)) || !bytes.HasSuffix(raw, []byte(suffix)) {
		return message{}, fmt.Errorf("message %s, want %s<ts>%s", raw, prefix, suffix)
	}
	var m message
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&m); err != nil {
		return m, fmt.Errorf("message %s: %v", raw, err)
	}
	if now := time.Now().UnixMilli(); m.TS < now-60_000 || m.TS > now+1000 {
		return m, fmt.Errorf("message %s: ts %d is not about now (%d)", raw, m.TS, now)
	}
	return m, nil
}

// reader reads broadcasts on c in its own goroutine and checks that they
// come in seq order from 1, with no gap; last is the last seq seen.
type reader struct {
	mu   sync.Mutex
	last uint64
	err  error
	done chan struct{}
}

func startReader(c *websocket.Conn) *reader {
	r := &reader{done: make(chan struct{})}
	go func() {
		defer close(r.done)
		for {
			_, raw, err := c.ReadMessage()
			if err != nil {
				return
			}
			var m message
			if err := json.Unmarshal(raw, &m); err != nil {
				r.fail(fmt.Errorf("cannot parse %q: %v", raw, err))
				return
			}
			r.mu.Lock()
			if m.Seq != r.last+1 {
				r.err = fmt.Errorf("seq %d after %d", m.Seq, r.last)
			}
			r.last = m.Seq
			r.mu.Unlock()
		}
	}()
	return r
}

func (r *reader) fail(err error) {
	r.mu.Lock()
	r.err = err
	r.mu.Unlock()
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
