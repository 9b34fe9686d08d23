// Package conformance holds c1m's protocol conformance suite and its
// hostile-input tests. It has no code of its own: everything is in its
// _test.go files, which build the c1m binary once, run
// `c1m serve --handler=echo` as a child process on free loopback ports and
// talk to it over raw sockets.
//
// The suite is the Autobahn TestSuite's categories rewritten as Go table
// tests (Autobahn itself needs Python 2 and Docker): 1 framing, 2 ping/pong,
// 3 reserved bits, 4 reserved opcodes, 5 fragmentation, 6 UTF-8, 7 close
// handling, 9 limits. Each case names the RFC 6455 section it checks, the
// bytes the client sends (any opcode, reserved bits, mask or none, length
// encoding, fragment order, the stream written whole or chopped into
// pieces down to one byte) and the expected behaviour: the exact messages
// and pongs echoed back, then a close code. Like Autobahn, every case gets
// a result:
//
//	OK          the server did exactly what the case expects
//	NON-STRICT  the outcome is allowed but not the best one: a different
//	            acceptable close code, a failure without a close frame,
//	            or a fail-fast case that failed only after the whole
//	            message had arrived
//	FAILED      anything else
//
// Usage:
//
//	go test ./server/conformance                  # fast subset and hostile input
//	go test ./server/conformance -run TestConformance -v -args -conformance.full
//	make conformance                             # the full table; fails on FAILED or NON-STRICT
//
// The hostile-input tests (slowloris, idle sockets, oversized and bad
// handshakes, a 2^63-byte frame, ping floods, a client that never reads,
// half-closed sockets, a connection flood past --max-conns) each run their
// own server with the flags they need and check its documented answer
// (docs/operations.md), its memory, and that its descriptors and goroutines
// return to their baseline afterwards.
package conformance
