//go:build linux

package c1mtest

import (
	"fmt"
	"net/http"
	"os"
	"strings"
	"sync"

	"c1m/bench"
)

// Scrape returns every series of /metrics as series → value, where a
// series is the name with its labels as written (`c1m_x{reason="y"}`).
func (p *Proc) Scrape() map[string]float64 {
	p.t.Helper()
	code, body, err := p.Get("/metrics")
	if err != nil || code != http.StatusOK {
		p.t.Fatalf("cannot scrape /metrics: status %d, %v", code, err)
	}
	m, err := bench.ParseMetrics(strings.NewReader(body))
	if err != nil {
		p.t.Fatal(err)
	}
	return m
}

// Metric returns the value of one series; it fails the test if the server
// does not export it.
func (p *Proc) Metric(series string) float64 {
	p.t.Helper()
	v, ok := p.Scrape()[series]
	if !ok {
		p.t.Fatalf("/metrics has no series %s", series)
	}
	return v
}

// Goroutines returns the server's go_goroutines.
func (p *Proc) Goroutines() int { return int(p.Metric("go_goroutines")) }

// FDs counts the server's open descriptors in /proc/PID/fd.
func (p *Proc) FDs() int {
	p.t.Helper()
	ents, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", p.PID()))
	if err != nil {
		p.t.Fatalf("cannot list the server's descriptors: %v", err)
	}
	return len(ents)
}

// RSS returns the server's resident set size in bytes (VmRSS in
// /proc/PID/status).
func (p *Proc) RSS() int64 {
	p.t.Helper()
	v, err := bench.ProcRSS(p.PID())
	if err != nil {
		p.t.Fatal(err)
	}
	return v
}

// tailBuf keeps the last limit bytes written to it (the child's output);
// safe for concurrent use.
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
