// Package wsproto is RFC 6455 on byte slices: the server side of the
// opening handshake, an incremental frame parser, a frame builder, close
// codes and a streaming UTF-8 validator. It never touches a file
// descriptor; the caller reads and writes, wsproto only parses and builds.
//
// # Handshake
//
// The caller gathers the request head from a non-blocking socket until
// RequestEnd finds its end (answering AppendHTTPError(dst, 431, ...) when
// it grows past the limit first), then calls Upgrader.Upgrade, which runs
// gobwas/ws's Upgrader over those bytes and appends the response, 101 or a
// complete error response, to the caller's buffer. Use one Upgrader per
// event loop.
//
// # Reading
//
// Each connection has a Reader (its zero value is ready). The event loop
// reads into one shared buffer and calls Reader.Feed with the bytes read;
// the Reader calls a Sink for each complete message and control frame.
// Complete frames inside the buffer are unmasked in place and delivered
// without a copy; only the bytes of an unfinished frame or message stay in
// the Reader, in a pooled buffer released when the message is delivered.
// When Reader.Idle reports true, the Reader holds nothing and the owner can
// return it to a pool.
//
// A *CloseError from Feed means the connection must be failed with its
// code: send AppendClose(dst, e.Code, e.Reason) and close.
//
// # Writing
//
// AppendFrame, AppendHeader and AppendClose build unmasked server frames;
// AppendMaskedFrame builds client frames (for the benchmark and tests).
//
// # Concurrency
//
// Nothing here locks. A Reader or an Upgrader belongs to one goroutine at a
// time; a Config is shared read-only.
package wsproto
