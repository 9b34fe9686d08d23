//go:build linux

package poller

import (
	"errors"
	"net"
	"strconv"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// waitFor runs Wait until cb has seen an event for want or the deadline
// passes, and returns the union of the events seen for want.
func waitFor(t *testing.T, p *Poller, want int) Events {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	var got Events
	for time.Now().Before(deadline) && got == 0 {
		err := p.Wait(100, func(fd int, ev Events) error {
			if fd == want {
				got |= ev
			}
			return nil
		})
		if err != nil {
			t.Fatalf("Wait: %v", err)
		}
	}
	if got == 0 {
		t.Fatalf("no event for fd %d within 5s", want)
	}
	return got
}

func TestAcceptReadHalfClose(t *testing.T) {
	p, err := New()
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	ln, err := Listen("127.0.0.1:0", ListenConfig{})
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(ln)
	port, err := LocalPort(ln)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Accept(ln); !errors.Is(err, unix.EAGAIN) {
		t.Fatalf("Accept on an empty queue: got %v, want EAGAIN", err)
	}
	if err := p.Add(ln, EventRead); err != nil {
		t.Fatal(err)
	}
	c, err := net.Dial("tcp", "127.0.0.1:"+strconv.Itoa(port))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if ev := waitFor(t, p, ln); ev&EventRead == 0 {
		t.Fatalf("listener events %v, want EventRead", ev)
	}
	fd, err := Accept(ln)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	if err := p.Add(fd, EventRead); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Write([]byte("hi")); err != nil {
		t.Fatal(err)
	}
	if ev := waitFor(t, p, fd); ev&EventRead == 0 {
		t.Fatalf("conn events %v, want EventRead", ev)
	}
	buf := make([]byte, 8)
	n, err := unix.Read(fd, buf)
	if err != nil || string(buf[:n]) != "hi" {
		t.Fatalf("read %q, %v", buf[:n], err)
	}
	// A half-close by the peer must be reported as EventHup (EPOLLRDHUP)
	// without the caller having to read.
	if err := c.(*net.TCPConn).CloseWrite(); err != nil {
		t.Fatal(err)
	}
	if ev := waitFor(t, p, fd); ev&EventHup == 0 {
		t.Fatalf("conn events %v after peer shutdown, want EventHup", ev)
	}
	// EPOLLOUT is reported only once asked for.
	if err := p.Mod(fd, EventRead|EventWrite); err != nil {
		t.Fatal(err)
	}
	if ev := waitFor(t, p, fd); ev&EventWrite == 0 {
		t.Fatalf("conn events %v, want EventWrite", ev)
	}
	if err := p.Del(fd); err != nil {
		t.Fatal(err)
	}
}

func TestWakeFromAnotherGoroutine(t *testing.T) {
	p, err := New()
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	go func() {
		time.Sleep(20 * time.Millisecond)
		_ = p.Wake()
		_ = p.Wake() // coalesced with the first
	}()
	woken := 0
	deadline := time.Now().Add(5 * time.Second)
	for woken == 0 && time.Now().Before(deadline) {
		err := p.Wait(1000, func(fd int, ev Events) error {
			if fd == WakeFD {
				woken++
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	if woken != 1 {
		t.Fatalf("woken %d times, want 1", woken)
	}
	// After the wake was consumed, a fresh Wake must work again.
	_ = p.Wake()
	if err := p.Wait(1000, func(fd int, ev Events) error {
		if fd == WakeFD {
			woken++
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if woken != 2 {
		t.Fatalf("second wake not delivered: woken=%d", woken)
	}
}

func TestClosedPollerWait(t *testing.T) {
	p, err := New()
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	if err := p.Wait(0, func(int, Events) error { return nil }); !errors.Is(err, ErrClosed) {
		t.Fatalf("Wait after Close: %v, want ErrClosed", err)
	}
}

func TestListenErrors(t *testing.T) {
	f := func(addr string) {
		t.Helper()
		fd, err := Listen(addr, ListenConfig{})
		if err == nil {
			unix.Close(fd)
			t.Fatalf("Listen(%q) succeeded, want an error", addr)
		}
	}
	f("nonsense")
	f("127.0.0.1:99999")
	f("example.com:80")
}

func TestReusePort(t *testing.T) {
	a, err := Listen("127.0.0.1:0", ListenConfig{ReusePort: true})
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(a)
	port, _ := LocalPort(a)
	b, err := Listen("127.0.0.1:"+strconv.Itoa(port), ListenConfig{ReusePort: true})
	if err != nil {
		t.Fatalf("second SO_REUSEPORT listener on the same port: %v", err)
	}
	unix.Close(b)
}

func TestSomaxconnFallback(t *testing.T) {
	if got := Somaxconn(t.TempDir()); got != 4096 {
		t.Fatalf("Somaxconn without /proc: %d, want 4096", got)
	}
}
