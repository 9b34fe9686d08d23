// Package baseline is the design c1m replaces, kept as the benchmark's
// comparison point: a goroutine-per-connection WebSocket server on net.Conn
// and the Go netpoller, with gobwas/ws in blocking mode and the classic
// gorilla-chat "hub" for broadcasts. `c1m bench` runs it side by side with
// `c1m serve` (as `c1m bench baseline-serve`) and measures the same things:
// memory per held connection and broadcast latency.
//
// It is meant to be an honest, ordinary implementation of that design, not
// a strawman: handshake buffers are pooled (gobwas/ws returns them once the
// upgrade is done), a broadcast is framed once and the same bytes are queued
// to every connection, and nothing per connection is allocated beyond what
// the design needs.
//
// # Per-connection resources
//
// Every upgraded connection holds:
//
//   - two goroutines: a reader, blocked in read(2) through the netpoller,
//     and a writer, blocked on its queue. Their stacks (a few KiB each)
//     are the bulk of the user-space cost, and the reason c1m exists;
//   - a bufio.Reader of ReadBufferSize (512 B). Clients of this protocol
//     send little (pings, a close, small messages that the baseline
//     discards), so a small buffer keeps a frame header and a control
//     payload to one read(2) without the 4 KiB that net/http or gorilla
//     use by default. Bigger frames still stream through it;
//   - a bounded queue, a channel of *[]byte with QueueLen slots (256 by
//     default, as in gorilla's chat example). Slots are pointers to one
//     shared, immutable frame per broadcast, so the queue costs 8 B a slot
//     (2 KiB at 256) instead of the 24 B a slot of chan []byte;
//   - the conn struct (net.Conn, queue, flags, a 12-byte header scratch)
//     and its entry in the server's connection map.
//
// There is no bufio.Writer: each queued frame is complete and goes out with
// one write(2). No timer is armed per connection once the handshake is done.
//
// # Protocol
//
// Client frames must be masked (RFC 6455 §5.1). Pings get a pong with the
// same payload, a close gets a close with the same status code and then the
// TCP connection is closed, data messages are read and discarded (64 KiB
// cap, 1009 past it). Broadcasts come from the HTTP API:
//
//	POST /v1/publish {"all":true,"data":<json>} → 202 {"seq":N}
//
// which frames {"type":"message","room":"*","all":true,"from":"api",
// "seq":N,"ts":<unix ms>,"data":<json>} once, byte for byte what c1m's
// broadcast package sends to everyone, and queues it to every connection
// without blocking. A full queue means a slow consumer: the connection is
// closed and counted. The same listener serves GET /livez and GET /metrics
// (c1m_connections and the process and Go metrics).
//
// # Usage
//
//	s, err := baseline.New(baseline.Config{Addr: "127.0.0.1:8080", APIAddr: "127.0.0.1:8081"})
//	if err != nil { ... }
//	if err := s.Start(); err != nil { ... }
//	defer s.Shutdown(context.Background())
package baseline
