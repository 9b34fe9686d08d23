//go:build linux

package c1mtest

import (
	"bufio"
	"fmt"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
)

// Scrape returns every series of /metrics as series → value, where a
// series is the name with its labels as written (`c1m_x{reason="y"}`).
func (p *Proc) Scrape() map[string]float64 {
	p.t.Helper()
	code, body, err := p.Get("/metrics")
	if err != nil || code != http.StatusOK {
		p.t.Fatalf("cannot scrape /metrics: status %d, %v", code, err)
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
			p.t.Fatalf("cannot parse metrics line %q: %v", line, err)
		}
		m[line[:i]] = v
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
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", p.PID()))
	if err != nil {
		p.t.Fatalf("cannot read the server's status: %v", err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			if err != nil {
				p.t.Fatalf("cannot parse %q: %v", line, err)
			}
			return kb << 10
		}
	}
	p.t.Fatal("no VmRSS in /proc/PID/status")
	return 0
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
