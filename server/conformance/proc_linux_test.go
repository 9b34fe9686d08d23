//go:build linux

package conformance

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// server is a running `c1m serve` child process.
type server struct {
	t       testing.TB
	cmd     *exec.Cmd
	addr    string // WebSocket listener, 127.0.0.1:port
	metrics string // metrics listener, 127.0.0.1:port
	out     *tailBuf
	done    chan struct{} // closed when the process has exited
	http    *http.Client
}

// startServer runs `c1m serve --handler=echo` with args on free loopback
// ports, waits for /livez and kills the process when the test ends. A port
// taken between freeAddr and the bind is retried with another.
func startServer(t testing.TB, args ...string) *server {
	t.Helper()
	var last error
	for attempt := 0; attempt < 3; attempt++ {
		s, err := tryStart(t, freeAddr(t), freeAddr(t), args)
		if err == nil {
			return s
		}
		last = err
		if !strings.Contains(err.Error(), "address already in use") {
			break
		}
	}
	t.Fatal(last)
	return nil
}

func tryStart(t testing.TB, addr, maddr string, args []string) (*server, error) {
	// --auth=none: the suite tests RFC 6455, not the token check;
	// --api-addr -: no publish API listener (its fixed default port would
	// collide between parallel servers).
	all := append([]string{"serve", "--handler=echo", "--auth=none", "--api-addr", "-",
		"--addr", addr, "--metrics-addr", maddr, "--log-level", "warn"}, args...)
	cmd := exec.Command(c1mBinary(t), all...)
	// No C1M_* variable of the developer's shell may change the flags.
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "C1M_") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	s := &server{
		t: t, cmd: cmd, addr: addr, metrics: maddr,
		out:  &tailBuf{limit: 1 << 20},
		done: make(chan struct{}),
		// No keep-alive: each scrape opens and closes its own connection,
		// so the server holds no idle HTTP connection (an fd and a
		// goroutine) between two measurements.
		http: &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}},
	}
	cmd.Stdout, cmd.Stderr = s.out, s.out
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("cannot start c1m serve: %w", err)
	}
	go func() {
		_ = cmd.Wait()
		close(s.done)
	}()
	t.Cleanup(func() {
		if !s.exited() {
			_ = cmd.Process.Kill()
			<-s.done
		}
		if t.Failed() {
			t.Logf("c1m %s output:\n%s", strings.Join(all, " "), s.out.String())
		}
	})
	deadline := time.Now().Add(15 * time.Second)
	for {
		if s.exited() {
			return nil, fmt.Errorf("c1m serve exited (%v) before /livez answered:\n%s", cmd.ProcessState, s.out.String())
		}
		if code, _, err := s.get("/livez"); err == nil && code == http.StatusOK {
			return s, nil
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("c1m serve: /livez did not answer within 15s:\n%s", s.out.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// freeAddr returns 127.0.0.1:<a port that was free a moment ago>.
func freeAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("cannot find a free port: %v", err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func (s *server) pid() int { return s.cmd.Process.Pid }

func (s *server) exited() bool {
	select {
	case <-s.done:
		return true
	default:
		return false
	}
}

// alive fails the test if the server process has exited (crashed).
func (s *server) alive() {
	s.t.Helper()
	if s.exited() {
		s.t.Fatalf("c1m serve exited: %v\n%s", s.cmd.ProcessState, s.out.String())
	}
}

func (s *server) get(path string) (int, string, error) {
	resp, err := s.http.Get("http://" + s.metrics + path)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), err
}

// scrape returns every series of /metrics: `name{labels}` → value.
func (s *server) scrape() map[string]float64 {
	s.t.Helper()
	code, body, err := s.get("/metrics")
	if err != nil || code != http.StatusOK {
		s.t.Fatalf("cannot scrape /metrics: status %d, %v", code, err)
	}
	m := map[string]float64{}
	sc := bufio.NewScanner(strings.NewReader(body))
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		if i < 0 {
			continue
		}
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			s.t.Fatalf("cannot parse metrics line %q: %v", line, err)
		}
		m[line[:i]] = v
	}
	return m
}

// metric returns one series; the test fails if the server lacks it.
func (s *server) metric(series string) float64 {
	s.t.Helper()
	v, ok := s.scrape()[series]
	if !ok {
		s.t.Fatalf("/metrics has no series %s", series)
	}
	return v
}

// fds counts the server's open descriptors in /proc/PID/fd.
func (s *server) fds() int {
	s.t.Helper()
	ents, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", s.pid()))
	if err != nil {
		s.t.Fatalf("cannot list the server's descriptors: %v", err)
	}
	return len(ents)
}

// rss returns the server's resident set size (VmRSS in /proc/PID/status).
func (s *server) rss() int64 {
	s.t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", s.pid()))
	if err != nil {
		s.t.Fatalf("cannot read the server's status: %v", err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			if err != nil {
				s.t.Fatalf("cannot parse %q: %v", line, err)
			}
			return kb << 10
		}
	}
	s.t.Fatal("no VmRSS in /proc/PID/status")
	return 0
}

// waitFor polls cond every 20 ms until it holds or d passes; then it fails
// the test with what() describing the last state seen.
func waitFor(t testing.TB, d time.Duration, cond func() bool, what func() string) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("still not true after %v: %s", d, what())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// tailBuf keeps the last limit bytes written to it; safe for concurrent use.
type tailBuf struct {
	mu    sync.Mutex
	b     []byte
	limit int
}

func (b *tailBuf) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.b = append(b.b, p...)
	if len(b.b) > b.limit {
		b.b = append(b.b[:0], b.b[len(b.b)-b.limit:]...)
	}
	return len(p), nil
}

func (b *tailBuf) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return string(b.b)
}
