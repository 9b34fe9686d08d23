package cluster

// Stats is a snapshot of the backplane's counters and sizes.
type Stats struct {
	// Published counts acknowledged publishes; Failed those whose
	// callback got an error; Refused those Publish returned an error for
	// at once (not connected, busy).
	Published, Failed, Refused int64
	// Delivered counts messages handed to the delivery callback; Holes
	// the deliveries whose Prev was newer than the last Seq this node saw
	// for the target (messages missed while disconnected, or dropped by
	// a full delivery queue).
	Delivered, Holes int64
	// Reordered counts messages that came before an earlier message of
	// their target and waited for it (see Config.ReorderWait); Late
	// those dropped because they came after their place was given up,
	// or twice.
	Reordered, Late int64
	// SlowConsumer counts NATS's slow-consumer reports (the delivery
	// queue was full and NATS dropped messages).
	SlowConsumer int64
	// Foreign counts messages on c1m's subjects that c1m did not
	// publish (ignored).
	Foreign int64
	// Reconnects counts reconnections to NATS.
	Reconnects int64
	// Inflight is the publishes waiting for their acknowledgement;
	// Subscriptions the subjects subscribed ("everyone" included);
	// RemoteNodes the other nodes counted for presence.
	Inflight, Subscriptions, RemoteNodes int
	// PresenceDropped counts presence entries and nodes refused by
	// MaxPresenceEntries and MaxNodes.
	PresenceDropped int64
}

// Stats returns the current counters.
func (c *Cluster) Stats() Stats {
	c.imu.RLock()
	subs := len(c.bySub)
	c.imu.RUnlock()
	c.presence.mu.Lock()
	nodes, dropped := len(c.presence.remote), c.presence.dropped
	c.presence.mu.Unlock()
	return Stats{
		Published: c.st.published.Load(), Failed: c.st.failed.Load(), Refused: c.st.refused.Load(),
		Delivered: c.st.delivered.Load(), Holes: c.st.holes.Load(),
		Reordered: c.st.reordered.Load(), Late: c.st.late.Load(), SlowConsumer: c.st.slow.Load(),
		Foreign: c.st.foreign.Load(), Reconnects: c.st.reconnects.Load(),
		Inflight: int(c.pubN.Load()), Subscriptions: subs, RemoteNodes: nodes,
		PresenceDropped: dropped,
	}
}
