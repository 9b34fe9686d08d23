//go:build linux

package bench

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
	"golang.org/x/sys/unix"

	"c1m/poller"
	"c1m/wsproto"
)

// Connection states.
const (
	csFree uint8 = iota
	csConnecting
	csHandshake
	csOpen
)

// cconn is one client connection, stored by value in an fd-indexed table.
type cconn struct {
	state    uint8
	attempts uint8
	target   uint16
	flags    uint8           // ccProbe, ccSlow
	round    uint8           // how often this index was churned (picks a fresh endpoint)
	bcast    uint16          // broadcasts received since the last reset
	started  uint32          // ms since the worker started, of this attempt
	idx      int32           // connection index within the worker
	rd       *wsproto.Reader // partial frame, nil when none
	hs       []byte          // partial 101 response (rare), nil when none
}

const (
	ccProbe       uint8 = 1 << iota // measures ping → pong round trips
	ccSlow                          // stopped reading (the slow scenario)
	ccReconnected                   // reopened by churn since the last reset
)

// retry is a connection index waiting for its next attempt.
type retry struct {
	idx      int32
	attempts uint8
	round    uint8 // its endpoint round (startConnRound)
	rejoin   bool  // a churn reconnection
	due      time.Time
}

// Worker opens and holds Conns connections on one epoll loop. Create it
// with NewWorker and run it with Run; Snapshot may be called from any
// goroutine.
type Worker struct {
	cfg     WorkerConfig
	p       *poller.Poller
	table   []cconn
	dsts    []unix.SockaddrInet4
	reqs    [][]byte // upgrade request heads, per target
	tokens  []string // per connection index, when minted
	accept  []byte
	buf     []byte
	wbuf    []byte
	rdcfg   wsproto.Config
	sink    clientSink
	next    int // next fresh connection index
	retries []retry
	start   time.Time

	rd wsproto.Reader // scratch reader for connections with no partial frame

	// Loop-only scenario state.
	cmds      chan cmdReq
	lat       *hdrhistogram.Histogram
	probe     *hdrhistogram.Histogram
	cross     *hdrhistogram.Histogram // deliveries published through another node
	errFrames int                     // error messages from the server
	pub       *wsPublish              // the "publish" command under way, nil when none
	closes    map[int]int
	churnRate int
	churnDue  float64
	churnLast time.Time
	churned   int
	lastProbe time.Time
	lastSweep time.Time
	rng       uint64
	// clockShift is added to the receive time of a delivery before its
	// send time is subtracted: ClockSkew − ClockOffset, in ns.
	clockShift int64
	early      int // deliveries before their send time, since the reset

	startCh   chan struct{} // closed by the "start" command
	startOnce sync.Once
	minted    atomic.Int64
	mintNanos atomic.Int64
	ready     atomic.Bool

	// Counters, written by the loop, read by Snapshot from any goroutine.
	open, pending, failed, retried, closed, messages, pings atomic.Int64
	pubSent, pubFailed, pubNanos                            atomic.Int64
	done, pubDone                                           atomic.Bool
	errMu                                                   sync.Mutex
	lastErr                                                 string
}

// NewWorker validates cfg and prepares a worker.
func NewWorker(cfg WorkerConfig) (*Worker, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	var rl unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &rl); err != nil {
		return nil, err
	}
	if uint64(cfg.Conns)+workerFDReserve > rl.Cur {
		return nil, fmt.Errorf("cannot hold %d connections in one worker: the open-files limit is %d; use more workers", cfg.Conns, rl.Cur)
	}
	p, err := poller.New()
	if err != nil {
		return nil, err
	}
	w := &Worker{
		cfg:    cfg,
		p:      p,
		table:  make([]cconn, rl.Cur),
		accept: []byte("Sec-WebSocket-Accept: " + expectedAccept() + "\r\n"),
		buf:    make([]byte, 64<<10),
		wbuf:   make([]byte, 0, 256),
		rdcfg:  wsproto.Config{Client: true, MaxMessage: 1 << 20},
	}
	w.sink.w = w
	w.cmds = make(chan cmdReq, 4)
	w.startCh = make(chan struct{})
	w.lat, w.probe, w.cross, w.closes = newHist(), newHist(), newHist(), map[int]int{}
	w.rng = uint64(time.Now().UnixNano()) | 1
	w.clockShift = int64(cfg.ClockSkew - cfg.ClockOffset)
	for _, t := range cfg.Targets {
		w.dsts = append(w.dsts, unix.SockaddrInet4{Addr: t.Addr.Addr().As4(), Port: int(t.Addr.Port())})
		w.reqs = append(w.reqs, upgradeHead(t))
	}
	return w, nil
}

// workerFDReserve is what a worker keeps for itself beyond its sockets.
const workerFDReserve = 32

// Snapshot returns the current counters.
func (w *Worker) Snapshot() Progress {
	w.errMu.Lock()
	last := w.lastErr
	w.errMu.Unlock()
	return Progress{
		Type: "progress", T: time.Now(), Open: int(w.open.Load()), Pending: int(w.pending.Load()),
		Failed: int(w.failed.Load()), Retries: int(w.retried.Load()), Closed: int(w.closed.Load()),
		Messages: w.messages.Load(), Pings: w.pings.Load(), Done: w.done.Load(), LastErr: last,
		Ready: w.ready.Load(), Minted: int(w.minted.Load()), MintSeconds: time.Duration(w.mintNanos.Load()).Seconds(),
		Published: w.pubSent.Load(), PublishFailed: w.pubFailed.Load(), PublishDone: w.pubDone.Load(),
		PublishSeconds: time.Duration(w.pubNanos.Load()).Seconds(),
	}
}

func (w *Worker) setErr(err error) {
	w.errMu.Lock()
	w.lastErr = err.Error()
	w.errMu.Unlock()
}

// Run mints the tokens (with a Minter), waits for Start (with WaitStart),
// opens the connections and holds them until ctx ends, then closes them
// all (with a close frame 1000) and returns.
func (w *Worker) Run(ctx context.Context) error {
	defer w.p.Close()
	if m := w.cfg.Minter; m != nil {
		t0 := time.Now()
		toks, err := m.MintRange(w.cfg.First, w.cfg.Conns, &w.minted)
		if err != nil {
			return err
		}
		w.tokens = toks
		w.mintNanos.Store(int64(time.Since(t0)))
	}
	w.ready.Store(true)
	if w.cfg.WaitStart {
		select {
		case <-w.startCh:
		case <-ctx.Done():
			return nil
		}
	}
	w.start = time.Now()
	started := 0
	inflight := 0
	for ctx.Err() == nil {
		// Start connections within the rate and in-flight caps.
		allowed := w.cfg.Conns
		if w.cfg.Rate > 0 {
			allowed = min(allowed, int(time.Since(w.start).Seconds()*float64(w.cfg.Rate))+1)
		}
		now := time.Now()
		for inflight < w.cfg.MaxInFlight && len(w.retries) > 0 && !w.retries[0].due.After(now) {
			r := w.retries[0]
			w.retries = w.retries[1:]
			if w.startConnRound(int(r.idx), r.attempts, r.round, r.rejoin) {
				inflight++
			}
		}
		for inflight < w.cfg.MaxInFlight && started < allowed && w.next < w.cfg.Conns {
			started++
			idx := w.next
			w.next++
			if w.startConn(idx, 0) {
				inflight++
			}
		}
		w.runCommands()
		w.probePings(now)
		if now.Sub(w.lastSweep) >= time.Second {
			w.lastSweep = now
			inflight -= w.sweepStuck(now)
		}
		inflight += w.churnStep(now)
		w.publishStep(now)
		err := w.p.Wait(10, func(fd int, ev poller.Events) error {
			if fd < 0 || fd >= len(w.table) {
				return nil
			}
			c := &w.table[fd]
			before := c.state
			w.onEvent(fd, c, ev)
			if (before == csConnecting || before == csHandshake) && c.state != csConnecting && c.state != csHandshake {
				inflight--
			}
			return nil
		})
		if err != nil && !errors.Is(err, poller.ErrClosed) {
			return err
		}
		w.pending.Store(int64(inflight))
		w.done.Store(w.next == w.cfg.Conns && inflight == 0 && len(w.retries) == 0)
	}
	w.closeAll()
	return nil
}

// startConn starts connection idx's attempt; false when it failed at once
// (then it is retried or counted failed).
func (w *Worker) startConn(idx int, attempts uint8) bool {
	return w.startConnRound(idx, attempts, 0, false)
}

// startConnRound is startConn on idx's round-th endpoint: each round takes
// the endpoint one Total (EndpointTotal) further. Churn takes the next
// round for each reconnection (rejoin), so that a reconnect never reuses
// the source address and port of a socket still in TIME_WAIT; so does an
// attempt whose endpoint another socket of this host holds (a listener on
// that port: bind fails with EADDRINUSE), so that it is not retried in
// vain.
func (w *Worker) startConnRound(idx int, attempts, round uint8, rejoin bool) bool {
	t := idx % len(w.dsts)
	src, port, err := Endpoint(w.cfg.Sources, w.cfg.PortBase, w.cfg.PortMax, w.cfg.endpoint(idx, round))
	if err == nil {
		var fd int
		rcvbuf := 0
		if w.slowCandidate(idx) {
			rcvbuf = slowRcvbuf
		}
		fd, err = dialFrom(src, port, &w.dsts[t], rcvbuf)
		if err == nil {
			if fd >= len(w.table) {
				_ = unix.Close(fd)
				err = fmt.Errorf("fd %d beyond table", fd)
			} else {
				w.table[fd] = cconn{state: csConnecting, attempts: attempts, target: uint16(t), idx: int32(idx), round: round,
					started: uint32(time.Since(w.start) / time.Millisecond)}
				if idx < w.cfg.Probes {
					w.table[fd].flags = ccProbe
				}
				if rejoin {
					w.table[fd].flags |= ccReconnected
				}
				if err = w.p.Add(fd, poller.EventWrite); err == nil {
					return true
				}
				w.table[fd] = cconn{}
				_ = unix.Close(fd)
			}
		}
	}
	if errors.Is(err, unix.EADDRINUSE) && round < 255 {
		round++
	}
	w.fail(int32(idx), attempts, round, rejoin, err)
	return false
}

// fail schedules a retry of idx on its round-th endpoint with exponential
// backoff, or counts a failure.
func (w *Worker) fail(idx int32, attempts, round uint8, rejoin bool, err error) {
	if int(attempts) >= w.cfg.Retries {
		w.failed.Add(1)
		w.setErr(err)
		return
	}
	backoff := min(50*time.Millisecond<<attempts, 2*time.Second)
	w.retries = append(w.retries, retry{idx: idx, attempts: attempts + 1, round: round, rejoin: rejoin, due: time.Now().Add(backoff)})
	w.retried.Add(1)
	w.setErr(err)
}

// drop closes fd; an unfinished connection is retried.
func (w *Worker) drop(fd int, c *cconn, err error) {
	state, idx, attempts, round, rejoin := c.state, c.idx, c.attempts, c.round, c.flags&ccReconnected != 0
	if c.rd != nil {
		c.rd.Reset()
	}
	*c = cconn{}
	_ = unix.Close(fd)
	switch state {
	case csConnecting, csHandshake:
		w.fail(idx, attempts, round, rejoin, err)
	case csOpen:
		w.open.Add(-1)
		w.closed.Add(1)
		w.setErr(err)
	}
}

var errServerClosed = errors.New("bench: closed by the server")

func (w *Worker) onEvent(fd int, c *cconn, ev poller.Events) {
	switch c.state {
	case csConnecting:
		if err := connectResult(fd); err != nil {
			w.drop(fd, c, err)
			return
		}
		tok := ""
		if w.tokens != nil {
			tok = w.tokens[c.idx]
		}
		w.wbuf = appendRequest(w.wbuf[:0], w.reqs[c.target], tok)
		req := w.wbuf
		if n, err := unix.Write(fd, req); n != len(req) {
			w.drop(fd, c, fmt.Errorf("cannot send upgrade request: %v", err))
			return
		}
		c.state = csHandshake
		if err := w.p.Mod(fd, poller.EventRead); err != nil {
			w.drop(fd, c, err)
		}
	case csHandshake:
		w.readHandshake(fd, c)
	case csOpen:
		w.readFrames(fd, c)
	}
}

func (w *Worker) readHandshake(fd int, c *cconn) {
	n, err := unix.Read(fd, w.buf)
	if err == unix.EAGAIN {
		return
	}
	if err != nil || n == 0 {
		w.drop(fd, c, fmt.Errorf("connection closed during the upgrade: %v", err))
		return
	}
	data := w.buf[:n]
	if c.hs != nil {
		c.hs = append(c.hs, data...)
		data = c.hs
	}
	end := bytes.Index(data, []byte("\r\n\r\n"))
	if end < 0 {
		if len(data) > 4096 {
			w.drop(fd, c, errors.New("upgrade response head too long"))
		} else if c.hs == nil {
			c.hs = append([]byte(nil), data...)
		}
		return
	}
	head := data[:end+4]
	if !bytes.HasPrefix(head, []byte("HTTP/1.1 101")) || !bytes.Contains(head, w.accept) {
		line, _, _ := bytes.Cut(head, []byte("\r\n"))
		w.drop(fd, c, fmt.Errorf("upgrade refused: %q", line))
		return
	}
	rest := data[end+4:]
	c.hs = nil
	c.state = csOpen
	w.open.Add(1)
	if len(rest) > 0 {
		w.feed(fd, c, rest)
	}
}

func (w *Worker) readFrames(fd int, c *cconn) {
	for i := 0; i < 4 && c.state == csOpen; i++ {
		n, err := unix.Read(fd, w.buf)
		if err == unix.EAGAIN {
			return
		}
		if err != nil || n == 0 {
			w.drop(fd, c, errServerClosed)
			return
		}
		w.feed(fd, c, w.buf[:n])
		if n < len(w.buf) {
			return
		}
	}
}

func (w *Worker) feed(fd int, c *cconn, data []byte) {
	r := c.rd
	if r == nil {
		r = &w.rd
	}
	w.sink.fd, w.sink.c = fd, c
	err := r.Feed(data, &w.rdcfg, &w.sink)
	switch {
	case err != nil || c.state != csOpen:
		r.Reset()
		c.rd = nil
	case r == &w.rd && !r.Idle():
		c.rd = new(wsproto.Reader)
		*c.rd = w.rd
		w.rd = wsproto.Reader{}
	case r != &w.rd && r.Idle():
		r.Reset()
		c.rd = nil
	}
	if err != nil {
		if !errors.Is(err, errServerClosed) {
			w.wbuf = wsproto.AppendMaskedFrame(w.wbuf[:0], true, wsproto.OpClose, []byte{0x03, 0xea}, [4]byte{1, 2, 3, 4})
			_, _ = unix.Write(fd, w.wbuf)
		}
		w.drop(fd, c, err)
	}
}

// closeAll sends every open connection a close frame 1000 and closes it.
func (w *Worker) closeAll() {
	frame := wsproto.AppendMaskedFrame(nil, true, wsproto.OpClose, []byte{0x03, 0xe8}, [4]byte{9, 8, 7, 6})
	for fd := range w.table {
		c := &w.table[fd]
		if c.state == csFree {
			continue
		}
		if c.state == csOpen {
			_, _ = unix.Write(fd, frame)
		}
		*c = cconn{}
		_ = unix.Close(fd)
	}
	w.open.Store(0)
}

// clientSink handles frames arriving at a worker connection.
type clientSink struct {
	w  *Worker
	fd int
	c  *cconn
}

// OnMessage counts the message; a broadcast from the benchmark carries its
// send time ("bt", Unix ns, the publisher's clock) and adds receive − send
// to the histogram, the receive time corrected by this host's clock
// offset. A delivery that still seems to arrive before it was sent (the
// correction's error exceeds the latency) is recorded as 1 µs and counted.
//
// In cluster mode the message also names the node it was published
// through ("o", its WebSocket port): when that is not this connection's
// server, the latency goes to the cross-node histogram too. Error
// messages from the server are counted.
func (k *clientSink) OnMessage(op wsproto.OpCode, p []byte) error {
	k.w.messages.Add(1)
	if sent, origin, ok := sendOrigin(p); ok {
		k.c.bcast++
		d := time.Now().UnixNano() + k.w.clockShift - sent
		if d <= 0 {
			k.w.early++
		}
		us := max(d/1000, 1)
		_ = k.w.lat.RecordValue(us)
		if origin != 0 && origin != k.w.dsts[k.c.target].Port {
			_ = k.w.cross.RecordValue(us)
		}
	} else if bytes.HasPrefix(p, []byte(`{"type":"error"`)) {
		k.w.errFrames++
	}
	return nil
}

// OnPing answers with a masked pong (RFC 6455 §5.5.2, §5.3: client frames
// are masked).
func (k *clientSink) OnPing(p []byte) error {
	w := k.w
	w.wbuf = wsproto.AppendMaskedFrame(w.wbuf[:0], true, wsproto.OpPong, p, [4]byte{5, 6, 7, 8})
	_, _ = unix.Write(k.fd, w.wbuf)
	w.pings.Add(1)
	return nil
}

// OnPong records a probe's round trip (its ping carried the send time).
func (k *clientSink) OnPong(p []byte) error {
	if k.c.flags&ccProbe != 0 && len(p) == 8 {
		if d := time.Now().UnixNano() - int64(binary.BigEndian.Uint64(p)); d > 0 {
			_ = k.w.probe.RecordValue(max(d/1000, 1))
		}
	}
	return nil
}

// OnClose answers the server's close and ends the connection.
func (k *clientSink) OnClose(code wsproto.StatusCode, reason []byte) error {
	w := k.w
	w.closes[int(code)]++
	w.wbuf = wsproto.AppendMaskedFrame(w.wbuf[:0], true, wsproto.OpClose, []byte{byte(code >> 8), byte(code)}, [4]byte{1, 2, 3, 4})
	_, _ = unix.Write(k.fd, w.wbuf)
	return errServerClosed
}

// attemptTimeout bounds one connection attempt (connect + upgrade). A SYN
// dropped by a full accept queue is otherwise retransmitted by the kernel
// for minutes; past this the attempt is dropped and retried with backoff.
const attemptTimeout = 10 * time.Second

// sweepStuck drops attempts older than attemptTimeout and returns how many.
func (w *Worker) sweepStuck(now time.Time) int {
	limit := uint32(now.Sub(w.start)/time.Millisecond) - uint32(attemptTimeout/time.Millisecond)
	if now.Sub(w.start) < attemptTimeout {
		return 0
	}
	n := 0
	for fd := range w.table {
		c := &w.table[fd]
		if (c.state == csConnecting || c.state == csHandshake) && c.started < limit {
			w.drop(fd, c, errAttemptTimeout)
			n++
		}
	}
	return n
}

var errAttemptTimeout = errors.New("bench: connect and upgrade took over 10s")
