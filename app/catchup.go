package app

import (
	"c1m/broadcast"
	"c1m/server"
)

// catchUp finishes a join that said "since": the client gets what it
// missed of the room after that seq, then the live stream, with no
// duplicate and no hole (the hub holds the live messages back meanwhile,
// JoinFrom). Without a history (no cluster) the node can only say what was
// missed: one gap notice for the numbers after since, then the live
// stream.
func (p *protocol) catchUp(c server.Conn, t broadcast.Target, since uint64) {
	hub, cid := p.a.hub, connID(c)
	cur := hub.StreamSeq(t)
	switch {
	case since < cur:
		_ = hub.SendGap(cid, t, since+1, cur, cur-since)
	case since > cur && cur > 0:
		// The room was emptied and re-created since (its count started
		// again): everything of the new one was missed, and the old
		// one's tail too.
		_ = hub.SendGap(cid, t, 1, cur, cur)
	}
	hub.EndSync(cid, t, cur)
}
