// Package broadcast is c1m's fan-out: a registry of connections by fd, by
// user and by room, and the publish path that frames a message once and
// writes the same immutable bytes to every target.
//
// Ordering and streams: every room, every user (direct messages to all of
// that user's devices) and "everyone" is a stream with its own sequence
// numbers. A stream's messages are delivered one after another in publish
// order: each stream has a FIFO queue drained by at most one task at a
// time, so a publisher's messages reach each target in the order it sent
// them. Different streams fan out in parallel.
//
// Fan-out: a message's targets are split into chunks (Config.ChunkSize);
// each chunk is a task on an ants pool, submitted without blocking. When the
// pool is full the publishing task runs the chunk itself (counted in
// Stats.InlineChunks). Per target the Sender writes at once or queues a
// reference to the frame; a target over its pending-bytes cap gets the
// slow-consumer policy: closed with 1013 (PolicyClose) or skipped and later
// told which sequence numbers it missed (PolicyDrop).
//
// Usage:
//
//	h, err := broadcast.New(broadcast.Config{}, sender)
//	h.Register(id, "alice")
//	_ = h.Join(id, "lobby", false)
//	seq, err := h.Publish(broadcast.ToRoom("lobby"), "alice", []byte(`{"text":"hi"}`))
//	h.Unregister(id)
package broadcast
