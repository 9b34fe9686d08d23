// Package raw is the benchmark's floor: the least a WebSocket server can
// do for the benchmark's scenarios, so that c1m's figures can be read
// against what the kernel and the clients cost on the same box, at the
// same scale, in the same run. `c1m bench --server raw` (or
// `--compare raw,c1m,baseline`) runs it as `c1m bench raw-serve`, exactly
// as it runs `c1m serve` and the baseline.
//
// # What it does, and what it leaves out
//
// The process layout is c1m serve's: one listening socket watched by
// GOMAXPROCS epoll loops with EPOLLEXCLUSIVE, each loop owning the sockets
// it accepted, and an fd-indexed table of 40-byte entries (no goroutine,
// timer or buffer per connection). A loop reads the upgrade request,
// upgrades with wsproto (the same checks as c1m), answers pings with
// pongs (the benchmark's probes) and a close with a close, and discards
// data messages. There is no application protocol, no registry, no rooms,
// no authentication (a token subprotocol is ignored), no heartbeat, no
// rate limit and no drain pacing.
//
// A publish frames its message once, byte for byte as c1m frames a
// message to everyone (broadcast.EncodeMessage), and 2 × GOMAXPROCS
// writer goroutines (c1m's fan-out pool size) write that one frame to
// every open socket, taking chunks of 1,024 fds from a shared counter.
// Each write is one send(2) with MSG_DONTWAIT|MSG_NOSIGNAL (or write(2),
// c1m's call today, with Config.Syscall). A socket that does not take a
// whole frame gets a queue of references to the shared frames and
// EPOLLOUT; past Config.MaxPending queued bytes it is a slow consumer and
// is closed, as c1m closes one.
//
// # Concurrency
//
// Each table entry has a mutex that every write to its socket takes (the
// writers, and the owning loop for pongs, close echoes and flushes), so
// frames never interleave; it costs tens of nanoseconds against the
// microseconds of the system call. Only the owning loop closes an fd: a
// writer that gives up on a socket marks it and shuts it down, which
// wakes the loop.
//
// # API
//
// One HTTP listener serves POST /v1/publish {"all":true,"data":<json>}
// (202 {"seq":N}; behind the API key when one is set), GET /livez and
// GET /metrics (c1m_connections, c1m_deliveries_total,
// c1m_connections_closed_total{reason}, ... and the process metrics).
//
// # Usage
//
//	s, err := raw.New(raw.Config{Addr: "127.0.0.1:8080", APIAddr: "127.0.0.1:8081"})
//	if err != nil { ... }
//	if err := s.Start(); err != nil { ... }
//	defer s.Shutdown(context.Background())
//	seq, err := s.Publish([]byte(`{"hello":"world"}`))
package raw
