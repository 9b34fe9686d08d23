package app

import (
	"errors"
	"fmt"
	"net/http"
	"sync/atomic"
	"time"

	"c1m/broadcast"
	"c1m/cluster"
	"c1m/server"
	"c1m/wsproto"
)

// The backplane's place in the App (Config.Cluster): every publish, from a
// client or the API, goes to the cluster's stream once, which numbers it;
// the App delivers what the cluster gives it (this node's targets only)
// through the hub, framed once per node. The hub tells the cluster which
// targets have local members (OnMembers), so the node subscribes only to
// those and shares the counts. While NATS is unreachable, a client's
// publish reaches this node's members only ("local": true), and the API
// refuses (503): a back end should publish through another node.

// clusterState is what the App keeps of its backplane.
type clusterState struct {
	cl           *cluster.Cluster
	interestFull atomic.Int64 // Interest refused (Config.MaxInterest)
	dropped      atomic.Int64 // messages the hub could not queue (backlog)
	lastWarn     atomic.Int64
}

// onMembers follows the hub's local counts (under its locks: quick, no
// network): interest while a target has local members, and the counts
// for presence.
func (a *App) onMembers(t broadcast.Target, before, after int) {
	cl := a.clu.cl
	if cl == nil {
		return
	}
	switch {
	case before == 0 && after > 0:
		if err := cl.Interest(t); err != nil {
			a.clu.interestFull.Add(1)
			a.warnEvery("cannot subscribe to a target of the cluster; its messages will not reach this node", "target", t.Name, "err", err)
		}
	case before > 0 && after == 0:
		cl.Release(t)
	}
	cl.SetCount(t, after)
}

// presenceOut sends this node's presence changes of a room to the other
// nodes (the hub's presence goroutine).
func (a *App) presenceOut(room string, joined, left []string) {
	if cl := a.clu.cl; cl != nil {
		_ = cl.PublishPresenceEvent(room, joined, left)
	}
}

// roomCount is a room's members on every node, for presence events.
func (a *App) roomCount(room string) int {
	if cl := a.clu.cl; cl != nil {
		return cl.RoomCount(room)
	}
	return 0
}

// fromCluster hands a message of the deployment's order to the local
// fan-out (on the cluster's delivery goroutine: it must not block).
func (a *App) fromCluster(m cluster.Message) {
	if err := a.hub.Deliver(m.Target, m.From, m.Seq, m.Prev, m.Time, m.Data); err != nil {
		a.clu.dropped.Add(1)
		a.warnEvery("cannot queue a message from the cluster: its target's backlog is full; its readers will see a hole", "target", m.Target.Name, "seq", m.Seq, "err", err)
	}
}

// warnEvery logs at most once every 10 s.
func (a *App) warnEvery(msg string, args ...any) {
	now := time.Now().UnixNano()
	prev := a.clu.lastWarn.Load()
	if now-prev < int64(10*time.Second) || !a.clu.lastWarn.CompareAndSwap(prev, now) {
		return
	}
	a.log.Warn(msg, args...)
}

// startCluster joins the backplane (before the engine starts: no member
// exists yet) and adds it to /readyz and /metrics.
func (a *App) startCluster() error {
	cfg := a.cfg.Cluster
	if cfg.Logf == nil {
		cfg.Logf = func(format string, args ...any) { a.log.Info(fmt.Sprintf(format, args...), "component", "cluster") }
	}
	if cfg.MaxMessageSize == 0 {
		cfg.MaxMessageSize = a.cfg.MaxData
	}
	cl, err := cluster.New(cfg, a.fromCluster)
	if err != nil {
		return fmt.Errorf("cannot join the cluster: %w", err)
	}
	a.clu.cl = cl
	cl.OnPresenceEvent(a.hub.MergePresence)
	a.peers = peerTable{last: map[string]peerStatus{}, stop: make(chan struct{}), done: make(chan struct{})}
	cl.OnNodeStatus(a.onNodeStatus)
	go a.sendStatus()
	set := a.eng.Metrics()
	set.NewGauge("c1m_cluster_connected", func() float64 {
		if cl.Status().State == cluster.StateReady {
			return 1
		}
		return 0
	})
	stat := func(f func(cluster.Stats) float64) func() float64 { return func() float64 { return f(cl.Stats()) } }
	set.NewGauge("c1m_cluster_published_total", stat(func(s cluster.Stats) float64 { return float64(s.Published) }))
	set.NewGauge("c1m_cluster_publish_failures_total", stat(func(s cluster.Stats) float64 { return float64(s.Failed + s.Refused) }))
	set.NewGauge("c1m_cluster_delivered_total", stat(func(s cluster.Stats) float64 { return float64(s.Delivered) }))
	set.NewGauge("c1m_cluster_holes_total", stat(func(s cluster.Stats) float64 { return float64(s.Holes) }))
	set.NewGauge("c1m_cluster_reordered_total", stat(func(s cluster.Stats) float64 { return float64(s.Reordered) }))
	set.NewGauge("c1m_cluster_late_total", stat(func(s cluster.Stats) float64 { return float64(s.Late) }))
	set.NewGauge("c1m_cluster_reconnects_total", stat(func(s cluster.Stats) float64 { return float64(s.Reconnects) }))
	set.NewGauge("c1m_cluster_subscriptions", stat(func(s cluster.Stats) float64 { return float64(s.Subscriptions) }))
	set.NewGauge("c1m_cluster_nodes", stat(func(s cluster.Stats) float64 { return float64(s.RemoteNodes + 1) }))
	set.NewGauge("c1m_cluster_dropped_total", func() float64 { return float64(a.clu.dropped.Load()) })
	a.eng.AddHealthCheck("cluster", func() error {
		st := cl.Status()
		if st.State == cluster.StateReady {
			return nil
		}
		why := st.Reason
		if why == "" {
			why = st.State.String()
		}
		return fmt.Errorf("%w: %s", server.ErrDegraded, why)
	})
	return nil
}

// publishErr maps a cluster publish error to the protocol's error code
// and a sentence.
func publishErr(err error) (code, msg string) {
	switch {
	case errors.Is(err, cluster.ErrBusy):
		return errCodeOverloaded, "the server is overloaded; retry later"
	case errors.Is(err, cluster.ErrTooLarge):
		return errCodeTooLarge, "data is over the size limit"
	case errors.Is(err, cluster.ErrBadName):
		return errCodeBadRequest, "bad room, user or sender name"
	case errors.Is(err, cluster.ErrTimeout):
		return errCodeUnavailable, "the message may not have been stored; check the history before sending it again"
	}
	return errCodeUnavailable, "cannot publish now; retry later"
}

// publishCluster sends a client's message through the cluster. The ack
// (or the error) comes when the stream has numbered it, from the
// cluster's goroutine. While NATS is unreachable the message reaches this
// node's members only, acknowledged "local": true.
func (p *protocol) publishCluster(c server.Conn, e *envelope, t broadcast.Target) error {
	hub := p.a.hub
	if hub.Draining() {
		return p.reply(c, e.id, errCodeDraining, "the server is shutting down; send again after reconnecting")
	}
	from := hub.UserOf(connID(c))
	var id []byte
	if e.id != nil {
		id = append([]byte(nil), e.id...) // e.id lives in the loop's read buffer
	}
	err := p.a.clu.cl.Publish(t, from, e.data, func(seq uint64, err error) {
		if err != nil {
			code, msg := publishErr(err)
			_ = p.replyAsync(c, id, code, msg)
			return
		}
		if id != nil {
			_ = c.WriteMessage(wsproto.OpText, appendAck(nil, id, t, seq, false))
		}
	})
	switch {
	case err == nil:
		return nil
	case errors.Is(err, cluster.ErrNotConnected):
		if err := hub.PublishLocal(t, from, e.data); err != nil {
			if errors.Is(err, broadcast.ErrDraining) {
				return p.reply(c, e.id, errCodeDraining, "the server is shutting down; send again after reconnecting")
			}
			return p.reply(c, e.id, errCodeOverloaded, "the server is overloaded; retry later")
		}
		if e.id == nil {
			return nil
		}
		return c.WriteMessage(wsproto.OpText, appendAck(c.Scratch(), e.id, t, 0, true))
	}
	code, msg := publishErr(err)
	return p.reply(c, e.id, code, msg)
}

// replyAsync is reply from another goroutine than the connection's loop:
// it builds the frame in a buffer of its own.
func (p *protocol) replyAsync(c server.Conn, id []byte, code, msg string) error {
	p.errorsSent.Inc()
	return c.WriteMessage(wsproto.OpText, appendError(nil, id, code, msg))
}

// publishCluster is the API's publish through the cluster: it waits for
// the stream's number (at most the cluster's request timeout) and answers
// 202 with it. While NATS is unreachable it answers 503: a back end should
// publish through another node, whose message reaches every node.
func (a *API) publishCluster(w http.ResponseWriter, r *http.Request, t broadcast.Target, from string, data []byte) {
	type result struct {
		seq uint64
		err error
	}
	if a.app.hub.Draining() {
		apiError(w, http.StatusServiceUnavailable, "draining", "this node is shutting down; publish to another node")
		return
	}
	done := make(chan result, 1)
	err := a.app.clu.cl.Publish(t, from, data, func(seq uint64, err error) { done <- result{seq, err} })
	if err == nil {
		select {
		case res := <-done:
			err = res.err
			if err == nil {
				apiJSON(w, http.StatusAccepted, map[string]any{"seq": res.seq})
				return
			}
		case <-r.Context().Done():
			return // the caller left; the message may still be stored
		}
	}
	switch {
	case errors.Is(err, cluster.ErrNotConnected):
		apiError(w, http.StatusServiceUnavailable, "backplane_unavailable", "this node cannot reach the cluster now; publish through another node")
	case errors.Is(err, cluster.ErrBusy):
		w.Header().Set("Retry-After", "1")
		apiError(w, http.StatusTooManyRequests, "overloaded", "too many publishes in flight; retry later")
	case errors.Is(err, cluster.ErrTooLarge):
		apiError(w, http.StatusRequestEntityTooLarge, "too_large", "data is over the size limit")
	case errors.Is(err, cluster.ErrBadName):
		apiError(w, http.StatusBadRequest, "bad_request", "bad room, user or sender name")
	case errors.Is(err, cluster.ErrTimeout):
		apiError(w, http.StatusGatewayTimeout, "timeout", "the cluster did not confirm the message in time; it may or may not be stored")
	default:
		apiError(w, http.StatusServiceUnavailable, "unavailable", "cannot publish now: "+err.Error())
	}
}
