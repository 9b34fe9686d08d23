package app

import (
	"context"
	"math/rand/v2"
	"strconv"
	"time"

	"c1m/server"
	"c1m/wsproto"
)

// The drain, as the protocol takes part in it (server.Drainer): once the
// listeners are shut, publishes stop and what was accepted fans out; then
// each connection, just before its 1001, gets
//
//	{"type":"shutdown","reconnect_in_ms":N}
//
// with N drawn per connection from [0, window), so that the clients of a
// node that held a million do not all come back in the same second.

// Bounds of the reconnect window: the open connections at 5,000 a second,
// at least a second and at most the drain timeout.
const (
	reconnectPerSecond = 5000
	minReconnectWindow = time.Second
)

// BeforeDrain stops publishing (Publish fails with ErrDraining: the API
// answers 503, clients get "shutting_down") and waits, within ctx, until
// every accepted message is handed to its targets' queues.
func (p *protocol) BeforeDrain(ctx context.Context) {
	open := p.a.eng.Stats().Open
	timeout := p.a.cfg.Engine.DrainTimeout
	if timeout == 0 {
		timeout = server.DefaultDrainTimeout
	}
	w := time.Duration(open) * time.Second / reconnectPerSecond
	w = min(max(w, minReconnectWindow), timeout)
	p.reconnectMs.Store(w.Milliseconds())
	if err := p.a.hub.Quiesce(ctx); err != nil {
		p.a.log.Warn("drain: not every accepted message was fanned out before the drain timeout", "err", err)
	}
}

// OnDrain sends the connection its shutdown message with a jittered
// reconnect hint; it goes out behind what is queued and ahead of the 1001.
func (p *protocol) OnDrain(c server.Conn) {
	n := rand.Int64N(max(p.reconnectMs.Load(), 1))
	b := append(c.Scratch(), `{"type":"shutdown","reconnect_in_ms":`...)
	b = strconv.AppendInt(b, n, 10)
	b = append(b, '}')
	_ = c.WriteMessage(wsproto.OpText, b)
}
