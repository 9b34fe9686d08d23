//go:build linux

package conformance

import (
	"fmt"
	"net"
	"testing"
	"time"

	"c1m/internal/c1mtest"
)

// TestHugeDeclaredLengths: frames announcing 2^63 bytes are closed 1009
// from the header, and 1,000 connections each announcing a frame of the
// maximum size and sending one byte of it cost the server no memory for
// what was announced (wsproto grows a buffer as bytes arrive, never by the
// declared length). RSS is compared as a ratio to the baseline, generously.
func TestHugeDeclaredLengths(t *testing.T) {
	t.Parallel()
	srv := startServer(t, "--max-message", fmt.Sprint(maxMessage))
	base := srv.usage()
	rss0 := srv.RSS()

	for i := 0; i < 100; i++ {
		c, rest := dialUpgraded(t, srv.Addr, 0)
		if _, err := c.Write(declaredFrame(1 << 63)); err != nil {
			t.Fatal(err)
		}
		code, _, err := readUntilClose(c, rest, 10*time.Second)
		c.Close()
		if err != nil || code != 1009 {
			t.Fatalf("2^63-byte frame: close %d, %v; want 1009", code, err)
		}
	}
	const held = 1000
	cs := make([]net.Conn, 0, held)
	defer func() {
		for _, c := range cs {
			c.Close()
		}
	}()
	for i := 0; i < held; i++ {
		c, _ := dialUpgraded(t, srv.Addr, 0)
		cs = append(cs, c)
		f := fr(opBinary, binaryPattern(maxMessage))
		if _, err := c.Write(f.wire()[:f.headerLen()+1]); err != nil {
			t.Fatal(err)
		}
	}
	c1mtest.Eventually(t, 10*time.Second, func() bool {
		return srv.Metric("c1m_bytes_received_total") > 0 && srv.Metric("c1m_connections") == held
	},
		func() string { return fmt.Sprintf("c1m_connections %v, want %d", srv.Metric("c1m_connections"), held) })
	// Let the server read every header (1 byte each behind it).
	echoOK(t, srv.Addr)
	rss1 := srv.RSS()
	t.Logf("RSS %s before, %s with %d connections each announcing %s", mib(rss0), mib(rss1), held, size(maxMessage))
	// Preallocating what was announced would be 1,000 MiB. One small
	// pooled buffer (4 KiB) per connection plus bookkeeping is a few MiB.
	if limit := 2*rss0 + 32<<20; rss1 > limit {
		t.Fatalf("RSS grew from %s to %s (limit %s): announced lengths are being allocated", mib(rss0), mib(rss1), mib(limit))
	}
	for _, c := range cs {
		c.Close()
	}
	cs = cs[:0]
	srv.Alive()
	srv.checkNoLeaks(base)
}

// TestFragmentsPastMax grows messages by fragments to just under
// --max-message on many connections at once, then one fragment more: each
// is closed 1009 at that fragment's header, and the memory held is about
// the messages' own bytes, released after.
func TestFragmentsPastMax(t *testing.T) {
	t.Parallel()
	srv := startServer(t, "--max-message", fmt.Sprint(maxMessage))
	base := srv.usage()
	rss0 := srv.RSS()
	// 8 × 1 MiB: enough to see a message held twice, small enough that
	// the pooled buffers left behind fit the leak check's heap slack.
	const conns = 8
	cs := make([]net.Conn, conns)
	rests := make([][]byte, conns)
	for i := range cs {
		cs[i], rests[i] = dialUpgraded(t, srv.Addr, 0)
		defer cs[i].Close()
		for _, f := range fragments(opBinary, binaryPattern(maxMessage-1), 64<<10) {
			f.fin = false
			if _, err := cs[i].Write(f.wire()); err != nil {
				t.Fatal(err)
			}
		}
	}
	echoOK(t, srv.Addr)
	rssPeak := srv.RSS()
	for i, c := range cs {
		if _, err := c.Write(frag(true, opCont, []byte{1, 2}).wire()); err != nil {
			t.Fatal(err)
		}
		code, counts, err := readUntilClose(c, rests[i], 10*time.Second)
		// A heartbeat ping may come first (the first one falls at a
		// random point of the interval); nothing else may.
		delete(counts, opPing)
		if err != nil || code != 1009 || len(counts) != 0 {
			t.Fatalf("conn %d: close %d, frames before %v, %v; want 1009 and nothing else", i, code, counts, err)
		}
	}
	t.Logf("RSS %s before, %s holding %d messages of %s", mib(rss0), mib(rssPeak), conns, size(maxMessage-1))
	if limit := rss0 + 3*conns*maxMessage; rssPeak > int64(limit) {
		t.Fatalf("RSS %s holding %d × %s, limit %s", mib(rssPeak), conns, size(maxMessage), mib(int64(limit)))
	}
	srv.checkNoLeaks(base)
}

// TestPingFlood sends 100,000 pings of 125 bytes from a client that
// never reads, with a 4 KiB receive buffer. The server answers only the
// most recent unanswered ping (RFC 6455 §5.5.3), so the pongs it cannot
// send never pile up: it reads the whole flood, keeps at most one pong
// pending (c1m_queued_bytes within two pong frames), its RSS stays
// bounded, and the connection stays open.
func TestPingFlood(t *testing.T) {
	t.Parallel()
	srv := startServer(t)
	base := srv.usage()
	rss0 := srv.RSS()
	rx0 := srv.Metric("c1m_bytes_received_total")
	c, _ := dialUpgraded(t, srv.Addr, 4<<10)
	defer c.Close()
	frame := ping(string(binaryPattern(125))).wire()
	batch := make([]byte, 0, 1000*len(frame))
	for i := 0; i < 1000; i++ {
		batch = append(batch, frame...)
	}
	var queuedMax float64
	sent, rssMax := flood(t, srv, c, batch, 100, 1000, 10, "pings", func() {
		queuedMax = max(queuedMax, srv.Metric("c1m_queued_bytes"))
	})
	if sent != 100_000 {
		t.Fatalf("the flood stopped after %d of 100,000 pings: the server stopped reading or closed", sent)
	}
	want := rx0 + float64(sent*len(frame))
	c1mtest.Eventually(t, 30*time.Second, func() bool { return srv.Metric("c1m_bytes_received_total") >= want },
		func() string {
			return fmt.Sprintf("the server to read the flood: %v of %v bytes", srv.Metric("c1m_bytes_received_total")-rx0, want-rx0)
		})
	queuedMax = max(queuedMax, srv.Metric("c1m_queued_bytes"))
	t.Logf("sent %d pings; queued at most %.0f bytes; RSS %s before, at most %s during", sent, queuedMax, mib(rss0), mib(rssMax))
	if queuedMax > 2*(2+125) {
		t.Fatalf("c1m_queued_bytes reached %.0f, want at most two pong frames", queuedMax)
	}
	if rssMax > rss0+8<<20 {
		t.Fatalf("RSS rose from %s to %s: the pongs are not bounded", mib(rss0), mib(rssMax))
	}
	if got := srv.Metric("c1m_connections"); got != 1 {
		t.Fatalf("c1m_connections %v after the flood, want 1: pongs must not close the flooder", got)
	}
	c.Close()
	echoOK(t, srv.Addr)
	srv.checkNoLeaks(base)
}

// TestNeverReads sends 64 KiB messages from a client that does not read its
// echoes (4 KiB receive buffer). Past half of --max-pending queued, the
// server stops reading it (its own TCP window then holds it back) instead
// of queueing more echoes; silent that way for two ping intervals, it is
// closed 1013 as a slow consumer. The server's RSS stays bounded meanwhile.
// The client reads only once the server has closed it, and then finds its
// echoes up to the one in progress and the 1013.
func TestNeverReads(t *testing.T) {
	t.Parallel()
	srv := startServer(t, "--ping-interval", "500ms")
	base := srv.usage()
	rss0 := srv.RSS()
	c, rest := dialUpgraded(t, srv.Addr, 4<<10)
	defer c.Close()
	msg := binary_(binaryPattern(64 << 10)).wire()
	// Write until the server stops reading (a write stalls for 300 ms: the
	// windows are full; the server closes a paused client after two ping
	// intervals, 1 s), then wait for that close and read what came back. A
	// client that went on writing instead would meet the server's reset
	// once the close linger ended.
	var queuedMax float64
	rssMax := srv.RSS()
	sent := 0
	for ; sent < 1000; sent++ {
		_ = c.SetWriteDeadline(time.Now().Add(300 * time.Millisecond))
		if _, err := c.Write(msg); err != nil {
			t.Logf("write %d stalled: %v", sent, err)
			break
		}
		if sent%5 == 0 {
			rssMax = max(rssMax, srv.RSS())
			queuedMax = max(queuedMax, srv.Metric("c1m_queued_bytes"))
		}
	}
	// Still reading nothing: the server must give up on the client.
	c1mtest.Eventually(t, 10*time.Second, func() bool {
		return srv.Metric(`c1m_connections_closed_total{reason="slow_consumer"}`) == 1
	}, c1mtest.Say("the server to close the client that stopped reading"))
	code, counts, err := readUntilClose(c, rest, 30*time.Second)
	t.Logf("sent %d messages of 64 KiB; got %d echoes, then close %d (%v); queued at most %.0f bytes; RSS %s before, at most %s during",
		sent, counts[opBinary], code, err, queuedMax, mib(rss0), mib(rssMax))
	if code != 1013 {
		t.Fatalf("close %d (%v), want 1013 slow consumer", code, err)
	}
	if queuedMax > 256<<10 {
		t.Fatalf("c1m_queued_bytes reached %.0f, over --max-pending", queuedMax)
	}
	if got := srv.Metric("c1m_read_pauses_total"); got < 1 {
		t.Fatalf("c1m_read_pauses_total %v: reading was never paused", got)
	}
	expectSlowClosed(t, srv, c, base, rss0, rssMax, 16<<20, "the out queue")
}

// flood writes buf up to writes times (each write carries per frames) to a
// client that never reads, sampling the server's RSS every sampleEvery
// writes. A failed write ends it early: the server closed the connection
// as a slow consumer and stopped reading. It returns the frames sent and
// the highest RSS seen.
func flood(t *testing.T, srv *server, c net.Conn, buf []byte, writes, per, sampleEvery int, what string, sample func()) (sent int, rssMax int64) {
	t.Helper()
	_ = c.SetWriteDeadline(time.Now().Add(30 * time.Second))
	for w := 0; w < writes; w++ {
		if _, err := c.Write(buf); err != nil {
			t.Logf("write after %d %s: %v", sent, what, err)
			break
		}
		if w%sampleEvery == 0 {
			rssMax = max(rssMax, srv.RSS())
			sample()
		}
		sent += per
	}
	return sent, max(rssMax, srv.RSS())
}

// expectSlowClosed checks what follows a slow consumer's 1013: the
// server's RSS stayed within rss0 + limit while queue filled, exactly one
// slow_consumer close was counted, and the server goes on serving without
// leaking.
func expectSlowClosed(t *testing.T, srv *server, c net.Conn, base usage, rss0, rssMax, limit int64, queue string) {
	t.Helper()
	if rssMax > rss0+limit {
		t.Fatalf("RSS rose from %s to %s (limit %s): %s is not bounded", mib(rss0), mib(rssMax), mib(rss0+limit), queue)
	}
	if got := srv.Metric(`c1m_connections_closed_total{reason="slow_consumer"}`); got != 1 {
		t.Fatalf("slow_consumer closes %v, want 1", got)
	}
	c.Close()
	echoOK(t, srv.Addr)
	srv.checkNoLeaks(base)
}

// TestHalfClosed: clients that shut down their writing side without a
// close frame (EPOLLRDHUP / read EOF), in every state — during the
// handshake, idle after it, in the middle of a frame, in the middle of a
// fragmented message — are cleaned up: c1m_sockets back to 0, descriptors
// back to the baseline.
func TestHalfClosed(t *testing.T) {
	t.Parallel()
	srv := startServer(t)
	base := srv.usage()
	var cs []*net.TCPConn
	defer func() {
		for _, c := range cs {
			c.Close()
		}
	}()
	for i := 0; i < 50; i++ {
		// In the handshake: half a request.
		c := dialTCP(t, srv.Addr, 0)
		_, _ = c.Write([]byte(upgradeRequest(srv.Addr))[:20])
		cs = append(cs, c)
		// Idle after the upgrade.
		c, _ = dialUpgraded(t, srv.Addr, 0)
		cs = append(cs, c)
		// In the middle of a frame.
		c, _ = dialUpgraded(t, srv.Addr, 0)
		_, _ = c.Write(text("half a frame").wire()[:9])
		cs = append(cs, c)
		// In the middle of a fragmented message.
		c, _ = dialUpgraded(t, srv.Addr, 0)
		_, _ = c.Write(frag(false, opText, []byte("first fragment")).wire())
		cs = append(cs, c)
	}
	c1mtest.Eventually(t, 10*time.Second, func() bool { return srv.Metric("c1m_sockets") == float64(len(cs)) },
		func() string { return fmt.Sprintf("c1m_sockets %v, want %d", srv.Metric("c1m_sockets"), len(cs)) })
	for _, c := range cs {
		if err := c.CloseWrite(); err != nil {
			t.Fatal(err)
		}
	}
	// The server closes its side: every client reads EOF (no close frame
	// is owed to a peer that left without one).
	for i, c := range cs {
		if _, _, err := readUntilClose(c, nil, 10*time.Second); err != nil {
			t.Fatalf("half-closed conn %d: %v, want EOF", i, err)
		}
	}
	c1mtest.Eventually(t, 10*time.Second, func() bool { return srv.Metric("c1m_sockets") == 0 },
		func() string { return fmt.Sprintf("c1m_sockets %v, want 0", srv.Metric("c1m_sockets")) })
	if got := srv.Metric(`c1m_connections_closed_total{reason="peer_gone"}`); got != 150 {
		t.Fatalf("peer_gone closes %v, want 150", got)
	}
	srv.checkNoLeaks(base)
}

// TestMaxConnsFlood fills --max-conns and then floods past it: each extra
// connection is answered HTTP 503 and closed, /readyz turns 503, the
// server does not crash, and once the first connections leave it upgrades
// again.
func TestMaxConnsFlood(t *testing.T) {
	t.Parallel()
	const maxConns = 100
	srv := startServer(t, "--max-conns", fmt.Sprint(maxConns))
	base := srv.usage()
	held := make([]net.Conn, 0, maxConns)
	defer func() {
		for _, c := range held {
			c.Close()
		}
	}()
	for i := 0; i < maxConns; i++ {
		c, _ := dialUpgraded(t, srv.Addr, 0)
		held = append(held, c)
	}
	if code, _, err := srv.Get("/readyz"); err != nil || code != 503 {
		t.Fatalf("/readyz at capacity: %d, %v; want 503", code, err)
	}
	const flood = 1000
	extra := make([]net.Conn, 0, flood)
	for i := 0; i < flood; i++ {
		c := dialTCP(t, srv.Addr, 0)
		extra = append(extra, c)
		_, _ = c.Write([]byte(upgradeRequest(srv.Addr)))
	}
	for i, c := range extra {
		a, err := readAnswer(c, 10*time.Second)
		c.Close()
		if err != nil || a.status != 503 || !a.closed {
			t.Fatalf("flood conn %d: status %d, closed %v, %v; want 503 and closed", i, a.status, a.closed, err)
		}
	}
	srv.Alive()
	if got := srv.Metric(`c1m_handshake_failures_total{reason="at_capacity"}`); got != flood {
		t.Fatalf("at_capacity failures %v, want %d", got, flood)
	}
	for _, c := range held {
		c.Close()
	}
	held = held[:0]
	c1mtest.Eventually(t, 10*time.Second, func() bool { return srv.Metric("c1m_sockets") == 0 },
		func() string { return fmt.Sprintf("c1m_sockets %v, want 0", srv.Metric("c1m_sockets")) })
	if code, _, err := srv.Get("/readyz"); err != nil || code != 200 {
		t.Fatalf("/readyz after: %d, %v; want 200", code, err)
	}
	echoOK(t, srv.Addr)
	srv.checkNoLeaks(base)
}
