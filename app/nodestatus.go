package app

import (
	"bufio"
	"bytes"
	"io"
	"sort"
	"strings"
	"sync"
	"time"

	"c1m/app/web"
)

// Per-node figures for the status page in a cluster: every node sends its
// own metrics (the c1m_* and process_* lines of its exposition) to the
// others every statusEvery, and keeps the last it heard from each, for
// peerTTL, at most maxPeers of them; the status page shows them beside its
// own node.
const (
	statusEvery = 2 * time.Second
	peerTTL     = 10 * time.Second
	maxPeers    = 64
)

type peerTable struct {
	mu   sync.Mutex
	last map[string]peerStatus
	stop chan struct{}
	done chan struct{}
}

type peerStatus struct {
	b  []byte
	at time.Time
}

// onNodeStatus keeps another node's figures (a NATS goroutine).
func (a *App) onNodeStatus(node string, b []byte) {
	p := &a.peers
	p.mu.Lock()
	defer p.mu.Unlock()
	if _, ok := p.last[node]; !ok && len(p.last) >= maxPeers {
		return
	}
	p.last[node] = peerStatus{b: b, at: time.Now()}
}

// peerSources returns the other nodes heard from within peerTTL, by name.
func (a *App) peerSources() []web.Source {
	p := &a.peers
	p.mu.Lock()
	defer p.mu.Unlock()
	now := time.Now()
	out := make([]web.Source, 0, len(p.last))
	for node, st := range p.last {
		if now.Sub(st.at) > peerTTL {
			delete(p.last, node)
			continue
		}
		b := st.b
		out = append(out, web.Source{Node: node, Write: func(w io.Writer) error { _, err := w.Write(b); return err }})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Node < out[j].Node })
	return out
}

// sendStatus publishes this node's figures every statusEvery until stopped.
func (a *App) sendStatus() {
	p := &a.peers
	defer close(p.done)
	t := time.NewTicker(statusEvery)
	defer t.Stop()
	var full, mine bytes.Buffer
	for {
		select {
		case <-p.stop:
			return
		case <-t.C:
		}
		full.Reset()
		mine.Reset()
		a.eng.WriteMetrics(&full)
		sc := bufio.NewScanner(&full)
		sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
		for sc.Scan() {
			line := sc.Text()
			if strings.HasPrefix(line, "c1m_") || strings.HasPrefix(line, "process_") {
				mine.WriteString(line)
				mine.WriteByte('\n')
			}
		}
		if cl := a.clu.cl; cl != nil {
			_ = cl.PublishNodeStatus(mine.Bytes())
		}
	}
}
