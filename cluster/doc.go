// Package cluster is c1m's backplane between nodes: NATS, joined as a
// client of an existing deployment or run inside the process
// (nats-server with JetStream, routed to the peer nodes).
//
// One order: every publish (to a room, a user's devices, or everyone)
// goes to one JetStream stream, which numbers it (Message.Seq) and
// republishes it on a live subject with the previous number of the same
// target (Message.Prev). Nodes subscribe to a live subject only while
// they have local members (Interest/Release), with plain core NATS
// subscriptions, so every node with members sees a target's messages in
// the same order with the same Seq, and a reader notices a hole when
// Prev is newer than the last Seq it saw (Cursor). The stream keeps the
// last Config.History messages of each target for Config.HistoryTTL:
// History returns what a reader missed, or says the history no longer
// reaches back that far.
//
// A publish is not delivered locally at publish time: the node's own
// members get it from the delivery callback, like every other node's,
// which is what keeps one order.
//
// Presence: SetCount publishes this node's member and device counts as
// soft state; RoomCount and UserOnline add up the nodes heard from
// within Config.PresenceTTL.
//
// Nothing blocks the caller on the network: Publish and History answer
// through callbacks, with bounds on what is in flight; when NATS is
// unreachable they fail at once with ErrNotConnected, Status says
// degraded and why, and the node reconnects with backoff and
// resubscribes by itself. A Cluster keeps nothing per connection.
//
// Usage (the application wires it between its clients and its
// broadcast.Hub):
//
//	cfg, err := cluster.Parse(cluster.Flags{Cluster: "embedded:6222", Routes: "a:6222,b:6222,c:6222"}, os.Getenv)
//	c, err := cluster.New(cfg, func(m cluster.Message) {
//		// Must not block: frame m once and hand it to the local fan-out.
//	})
//	defer c.Close()
//	_ = c.Interest(broadcast.ToRoom("lobby"))   // the room's first local member joined
//	c.SetCount(broadcast.ToRoom("lobby"), 1)    // its local member count
//	err = c.Publish(broadcast.ToRoom("lobby"), "alice", []byte(`{"text":"hi"}`),
//		func(seq uint64, err error) { /* acknowledged as seq, or failed */ })
//	err = c.History(broadcast.ToRoom("lobby"), lastSeq, 100,
//		func(r cluster.HistoryResult, err error) { /* r.Messages, r.Gap, r.More */ })
//	c.Release(broadcast.ToRoom("lobby"))        // its last local member left
package cluster
