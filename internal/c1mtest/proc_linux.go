//go:build linux

package c1mtest

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Proc is a running c1m child process, started by Start or Serve. It
// belongs to the test that started it: a tb.Cleanup kills it (if it is
// still running) when that test ends, and logs its output if the test
// failed. Its methods that take no testing.TB fail that test, so call
// them from the test's goroutine; Get, PID and the fields may be used
// from any goroutine.
type Proc struct {
	Addr        string // WebSocket listener, host:port
	MetricsAddr string // metrics listener (/metrics, /livez, /readyz), host:port

	t    testing.TB
	cmd  *exec.Cmd
	out  *tailBuf      // the child's stdout and stderr
	done chan struct{} // closed when the process has exited
	http *http.Client
}

// Serve starts c1m on fresh free loopback ports: argv(addr, metricsAddr)
// returns its command line (after the binary's name), which must make the
// WebSocket listener bind addr and the metrics listener metricsAddr. If a
// port was taken between FreeAddr and the bind (the child reports
// "address already in use"), it retries with other ports, up to three
// attempts in all; any other failure fails tb at once.
func Serve(tb testing.TB, argv func(addr, metricsAddr string) []string) *Proc {
	tb.Helper()
	var last error
	for attempt := 0; attempt < 3; attempt++ {
		addr, maddr := FreeAddr(tb), FreeAddr(tb)
		p, err := Start(tb, addr, maddr, argv(addr, maddr), nil)
		if err == nil {
			return p
		}
		last = err
		if !strings.Contains(err.Error(), "address already in use") {
			break
		}
	}
	tb.Fatal(last)
	return nil
}

// Start runs the c1m binary (see Binary) with args, in Env(env...), and
// waits up to 15 s until GET /livez on metricsAddr answers 200. addr is
// where the caller's args make the WebSocket listener bind. If the child
// exits first or /livez never answers, it returns an error holding the
// child's output (the child is killed when tb ends).
func Start(tb testing.TB, addr, metricsAddr string, args, env []string) (*Proc, error) {
	tb.Helper()
	cmd := exec.Command(Binary(tb), args...)
	cmd.Env = Env(env...)
	p := &Proc{
		Addr: addr, MetricsAddr: metricsAddr,
		t: tb, cmd: cmd,
		out:  &tailBuf{limit: 1 << 20},
		done: make(chan struct{}),
		// No keep-alive: every scrape opens and closes its own connection,
		// so the server holds no idle HTTP connection (an fd and a
		// goroutine) between two measurements.
		http: &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}},
	}
	cmd.Stdout, cmd.Stderr = p.out, p.out
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("cannot start c1m serve: %w", err)
	}
	go func() {
		_ = cmd.Wait()
		close(p.done)
	}()
	tb.Cleanup(func() {
		p.Stop()
		if tb.Failed() {
			tb.Logf("c1m %s output:\n%s", strings.Join(args, " "), p.out.String())
		}
	})
	deadline := time.Now().Add(15 * time.Second)
	for {
		if p.exited() {
			return nil, fmt.Errorf("c1m serve exited (%v) before /livez answered:\n%s", cmd.ProcessState, p.out.String())
		}
		if code, _, err := p.Get("/livez"); err == nil && code == http.StatusOK {
			return p, nil
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("c1m serve: /livez did not answer 200 within 15s:\n%s", p.out.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// PID is the child's process id.
func (p *Proc) PID() int { return p.cmd.Process.Pid }

// Output returns what the child has written to stdout and stderr so far
// (its last MiB). Safe from any goroutine.
func (p *Proc) Output() string { return p.out.String() }

func (p *Proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// Stop kills the child, if it is still running, and waits for it to exit.
func (p *Proc) Stop() {
	if !p.exited() {
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}

// Alive fails the test if the child has exited (crashed).
func (p *Proc) Alive() {
	p.t.Helper()
	if p.exited() {
		p.t.Fatalf("c1m serve exited: %v\n%s", p.cmd.ProcessState, p.out.String())
	}
}

// Signal sends sig to the child.
func (p *Proc) Signal(sig os.Signal) {
	p.t.Helper()
	if err := p.cmd.Process.Signal(sig); err != nil {
		p.t.Fatalf("cannot send %v: %v", sig, err)
	}
}

// Wait waits up to d for the child to exit and returns its exit status; it
// fails the test if the child is still running after d or was killed by a
// signal.
func (p *Proc) Wait(d time.Duration) int {
	p.t.Helper()
	select {
	case <-p.done:
	case <-time.After(d):
		p.t.Fatalf("c1m serve still running %v after it was asked to stop", d)
	}
	ws, ok := p.cmd.ProcessState.Sys().(syscall.WaitStatus)
	if ok && ws.Signaled() {
		p.t.Fatalf("c1m serve was killed by %v, want a clean exit", ws.Signal())
	}
	return p.cmd.ProcessState.ExitCode()
}

// Get fetches path from the metrics listener and returns the status code
// and body.
func (p *Proc) Get(path string) (int, string, error) {
	resp, err := p.http.Get("http://" + p.MetricsAddr + path)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), err
}

// Readyz returns /readyz's status code.
func (p *Proc) Readyz() int {
	p.t.Helper()
	code, _, err := p.Get("/readyz")
	if err != nil {
		p.t.Fatalf("cannot GET /readyz: %v", err)
	}
	return code
}
