package app

import (
	"errors"

	"c1m/broadcast"
	"c1m/cluster"
	"c1m/server"
)

// catchUp finishes a join that said "since": the client gets what it
// missed of the room after that seq, then the live stream, with no
// duplicate and no hole (the hub holds the live messages back meanwhile,
// JoinFrom). Without a history (no cluster) the node can only say what was
// missed: one gap notice for the numbers after since that the client will
// not get, then the live stream. The hub decides that behind the messages
// already queued for the room (EndSyncLive), so a message published just
// after the join is delivered, not announced missed.
func (p *protocol) catchUp(c server.Conn, t broadcast.Target, since uint64) {
	if cl := p.a.clu.cl; cl != nil {
		p.catchUpHistory(c, cl, t, since)
		return
	}
	p.a.hub.EndSyncLive(connID(c), t, since)
}

// maxCatchUp caps the messages one join's catch-up replays: a client that
// missed more gets a gap notice after them and may join again from the
// last seq it got.
const maxCatchUp = 1000

// catchUpHistory replays what the client missed from the cluster's
// history, then ends the hold on the live stream (from the cluster's
// goroutine). A history that no longer reaches back to since gets one gap
// notice first; no history at all (--history 0, or the broker
// unreachable) gets an error frame, and the live stream from now.
func (p *protocol) catchUpHistory(c server.Conn, cl *cluster.Cluster, t broadcast.Target, since uint64) {
	hub, cid := p.a.hub, connID(c)
	err := cl.History(t, since, maxCatchUp, func(r cluster.HistoryResult, err error) {
		last := since
		defer func() { hub.EndSync(cid, t, last) }()
		if err != nil {
			_ = p.replyAsync(c, nil, errCodeNoHistory, "the history is unavailable now: "+err.Error())
			return
		}
		if r.Gap {
			to := uint64(0)
			if r.First > 0 {
				to = r.First - 1
			}
			_ = hub.SendGap(cid, t, since+1, to, 0)
		}
		for _, m := range r.Messages {
			if c.WriteFrame(broadcast.EncodeNumbered(t, m.From, m.Seq, m.Prev, m.Time, m.Data)) != nil {
				return // closed (or too slow for the replay: 1013)
			}
			last = m.Seq
		}
		if r.More {
			// The rest comes from the live stream's hold only if it is
			// newer; say what was left out.
			_ = hub.SendGap(cid, t, last+1, 0, 0)
		}
	})
	if err != nil {
		code := errCodeNoHistory
		if errors.Is(err, cluster.ErrBusy) {
			code = errCodeOverloaded
		}
		_ = p.reply(c, nil, code, "cannot read the history now: "+err.Error())
		hub.EndSync(cid, t, since)
	}
}
