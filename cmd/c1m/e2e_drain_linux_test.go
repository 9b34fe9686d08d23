//go:build linux

package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"c1m/internal/c1mtest"
	"c1m/wsproto"
)

// drainClient is one reading client of the drain tests: it joins a room
// and then records every room message's seq, the shutdown message, and
// the close frame.
type drainClient struct {
	c         *c1mtest.RawClient
	seqs      []uint64
	reconnect int64 // reconnect_in_ms of the shutdown message; -1 none
	shutdown  int   // position of the shutdown message among the events
	events    int
	code      wsproto.StatusCode
	err       error
}

func dialDrainClient(t *testing.T, addr, user, room string) *drainClient {
	t.Helper()
	c, err := c1mtest.DialWS(addr, "/ws?user="+user, c1mtest.DialOptions{ReadTimeout: 60 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	if err := c.SendText(`{"type":"join","room":"` + room + `","id":1}`); err != nil {
		t.Fatal(err)
	}
	m, err := c.NextMessage()
	if err != nil || !bytes.Contains(m, []byte(`"joined"`)) {
		t.Fatalf("%s: join answered %q, %v", user, m, err)
	}
	return &drainClient{c: c, reconnect: -1, shutdown: -1}
}

// read records events until the close frame or an error.
func (d *drainClient) read() {
	for {
		e, err := d.c.Next()
		if err != nil {
			d.err = err
			return
		}
		switch e.Op {
		case wsproto.OpClose:
			d.code = e.Code
			return
		case wsproto.OpText:
			d.events++
			var m struct {
				Type      string `json:"type"`
				Seq       uint64 `json:"seq"`
				Reconnect *int64 `json:"reconnect_in_ms"`
			}
			if err := json.Unmarshal(e.Data, &m); err != nil {
				d.err = fmt.Errorf("%q: %w", e.Data, err)
				return
			}
			switch m.Type {
			case "message":
				d.seqs = append(d.seqs, m.Seq)
			case "shutdown":
				if m.Reconnect != nil {
					d.reconnect = *m.Reconnect
				}
				d.shutdown = d.events
			}
		}
	}
}

// TestDrainDeliversAccepted: 200 clients read a room while publishers post
// to the API as fast as they are answered; SIGTERM comes mid-stream. Every
// message the API answered 202 reaches every client, in order, once, then
// the client's shutdown message, then its 1001; publishes after the drain
// began are refused (503), not lost.
func TestDrainDeliversAccepted(t *testing.T) {
	const clients = 200
	apiAddr := c1mtest.FreeAddr(t)
	p := startServe(t, "--api-addr", apiAddr, "--drain-delay=0", "--drain-timeout=30s",
		"--rate-burst=1000000", "--rate-refill=1000000")
	cs := make([]*drainClient, clients)
	for i := range cs {
		cs[i] = dialDrainClient(t, p.Addr, "u"+strconv.Itoa(i), "lobby")
	}
	var readers sync.WaitGroup
	for _, d := range cs {
		readers.Add(1)
		go func() { defer readers.Done(); d.read() }()
	}

	// Publishers: POST until refused; a loop bounded in count.
	var mu sync.Mutex
	var accepted []uint64
	refused := map[int]int{}
	stop := make(chan struct{})
	var pubs sync.WaitGroup
	hc := &http.Client{Timeout: 10 * time.Second}
	for g := 0; g < 4; g++ {
		pubs.Add(1)
		go func() {
			defer pubs.Done()
			for i := 0; i < 50_000; i++ {
				resp, err := hc.Post("http://"+apiAddr+"/v1/publish", "application/json",
					bytes.NewBufferString(`{"room":"lobby","data":{"pad":"0123456789012345678901234567890123456789"}}`))
				if err != nil {
					return // the API is gone: the process is exiting
				}
				var body struct {
					Seq uint64 `json:"seq"`
				}
				_ = json.NewDecoder(resp.Body).Decode(&body)
				resp.Body.Close()
				mu.Lock()
				if resp.StatusCode == http.StatusAccepted {
					accepted = append(accepted, body.Seq)
				} else {
					refused[resp.StatusCode]++
				}
				mu.Unlock()
				if resp.StatusCode == http.StatusServiceUnavailable {
					return
				}
				select {
				case <-stop:
					return
				default:
				}
			}
		}()
	}
	// SIGTERM once a good stream is flowing.
	c1mtest.Eventually(t, 30*time.Second, func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(accepted) >= 2000
	}, c1mtest.Say("2,000 publishes accepted"))
	p.Signal(syscall.SIGTERM)
	if code := p.Wait(60 * time.Second); code != 0 {
		t.Fatalf("c1m serve exited with status %d after SIGTERM, want 0", code)
	}
	close(stop)
	pubs.Wait()
	readers.Wait()

	slices.Sort(accepted)
	t.Logf("%d publishes accepted, refused %v", len(accepted), refused)
	for i, s := range accepted {
		if s != uint64(i+1) {
			t.Fatalf("accepted seqs are not 1..%d: %d at %d", len(accepted), s, i)
		}
	}
	if refused[http.StatusServiceUnavailable] == 0 {
		t.Errorf("no publish was refused with 503 once the drain began")
	}
	windows := map[int64]bool{}
	for i, d := range cs {
		if d.err != nil {
			t.Fatalf("client %d: %v after %d messages", i, d.err, len(d.seqs))
		}
		if d.code != wsproto.CloseGoingAway {
			t.Fatalf("client %d: close %d, want 1001", i, d.code)
		}
		if !slices.Equal(d.seqs, accepted) {
			t.Fatalf("client %d got %d messages (last seq %d), want the %d accepted, in order", i, len(d.seqs), lastOf(d.seqs), len(accepted))
		}
		if d.shutdown != d.events || d.reconnect < 0 {
			t.Fatalf("client %d: shutdown message at event %d of %d (reconnect_in_ms %d), want it last before the 1001", i, d.shutdown, d.events, d.reconnect)
		}
		windows[d.reconnect] = true
	}
	if len(windows) < 2 {
		t.Fatalf("every client was told the same reconnect_in_ms: no jitter")
	}
}

func lastOf(s []uint64) uint64 {
	if len(s) == 0 {
		return 0
	}
	return s[len(s)-1]
}

// TestDrainDeregistrationWindow: on SIGTERM /readyz answers 503 at once
// while the server goes on accepting and serving for --drain-delay; only
// then do the listeners close and clients get their shutdown message and
// 1001.
func TestDrainDeregistrationWindow(t *testing.T) {
	apiAddr := c1mtest.FreeAddr(t)
	p := startServe(t, "--api-addr", apiAddr, "--drain-delay=10s", "--drain-timeout=10s")
	early := dialDrainClient(t, p.Addr, "early", "r")
	p.Signal(syscall.SIGTERM)
	c1mtest.Eventually(t, 5*time.Second, func() bool { return p.Readyz() == http.StatusServiceUnavailable },
		c1mtest.Say("/readyz 503 after SIGTERM"))
	// Deregistered, not draining: a new client still connects, joins, and
	// is served (the 10 s window is only the last guard of this check).
	late := dialDrainClient(t, p.Addr, "late", "r")
	resp, err := http.Post("http://"+apiAddr+"/v1/publish", "application/json", bytes.NewBufferString(`{"room":"r","data":1}`))
	if err != nil || resp.StatusCode != http.StatusAccepted {
		t.Fatalf("publish during the deregistration window: %v %v, want 202", resp, err)
	}
	resp.Body.Close()
	for _, d := range []*drainClient{early, late} {
		d.read()
		if d.err != nil || d.code != wsproto.CloseGoingAway || len(d.seqs) != 1 || d.reconnect < 0 {
			t.Fatalf("client: %d messages, shutdown %d, close %d, %v; want the message, the shutdown message and 1001",
				len(d.seqs), d.reconnect, d.code, d.err)
		}
	}
	if code := p.Wait(30 * time.Second); code != 0 {
		t.Fatalf("c1m serve exited with status %d, want 0", code)
	}
}
