// Package server is c1m's connection engine: raw epoll loops that accept,
// upgrade, read, write, ping and close WebSocket connections, with no
// goroutine, timer or buffer per idle connection. It knows nothing of what
// the messages mean: an application plugs in through a Handler and talks
// back through Conn handles.
//
// The surface an application uses:
//
//   - Handler: OnOpen, OnMessage, OnClose, called on the loop that owns
//     the connection (never concurrently for one connection; never block).
//   - Conn: a small copyable handle (fd and slot generation) that sends
//     (WriteMessage, WriteFrame, OfferFrame), closes with a code (Close),
//     carries a handler value (Tag, SetTag) and names the connection (FD,
//     Gen, ID) and its client (RemoteAddr: the PROXY protocol header's
//     address with Config.ProxyProtocol, else the socket's peer). Its send and close methods are safe from any goroutine; a
//     stale handle fails with ErrClosed instead of reaching a reused fd.
//   - Server: New, Start, Shutdown, Stats, Metrics (the set the
//     application registers its own metrics in), MaxFDs, Conn.
//   - Authenticator and JWTAuth: who a connection is, established at the
//     handshake (401 before the upgrade otherwise).
//
// Usage, with the echo handler:
//
//	s, err := server.New(server.Config{Addr: ":8080", Handler: server.Echo{}})
//	if err != nil { ... }
//	if err := s.Start(); err != nil { ... }
//	...
//	_ = s.Shutdown(ctx) // drains: 1001 to every client, then closes
//
// The files, one concept each:
//
//	server.go, server_linux.go   the Server: New, Start, stats, logging
//	config.go                    Config and its defaults
//	slot.go                      the fd-indexed slot: one connection's state
//	conn.go, handler.go          the application's surface: Conn, Handler, Echo, Discard
//	loop_linux.go                one epoll loop: accept, dispatch, timers, close requests
//	handshake_linux.go           the HTTP head: read, upgrade, authenticate, reject
//	read_linux.go                frames in: read, parse, hand to the handler
//	write_linux.go, outqueue.go  frames out: write at once or queue, flush on EPOLLOUT
//	heartbeat_linux.go           pings, pongs and the idle timeout
//	close_linux.go               the close handshake, abort, freeing the slot
//	drain_linux.go               graceful shutdown: deregister, drain at a rate, force
//	wheel.go                     the per-loop timing wheel
//	auth.go, jwt.go              identities and JWT verification
//	proxyproto.go                the PROXY protocol header (v1, v2): a pure parser
//	clientaddr.go, clientaddr_linux.go  the client's address: the header ahead of the
//	                             upgrade, the per-address rate behind it, Conn.RemoteAddr
//	http.go, metrics.go          /metrics, /livez, /readyz and the engine's metrics
//	syscalls_linux.go, rlimit_linux.go  raw syscalls without allocation; the fd limit
//	server_other.go              stubs off Linux, so the package compiles anywhere
package server
