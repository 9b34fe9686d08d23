//go:build linux

package server

import (
	"errors"

	"golang.org/x/sys/unix"

	"c1m/wsproto"
)

// errStop ends a Feed after a close frame: RFC 6455 §5.5.1, after a Close
// frame the endpoint does not process further data.
var errStop = errors.New("server: stop feeding")

// readFrames reads and parses an open connection's input.
func (l *loop) readFrames(fd int32, sl *slot) {
	for i := 0; i < maxReadsPerWake; i++ {
		n, err := readFD(int(fd), l.buf)
		if err == unix.EAGAIN {
			return
		}
		if err != nil || n == 0 {
			l.abort(fd, sl, reasonPeerGone)
			return
		}
		sl.seen = l.now
		l.s.m.bytesIn.Add(n)
		l.feed(fd, sl, l.buf[:n])
		if sl.state != stOpen || l.maybePause(fd, sl) || n < len(l.buf) {
			return
		}
	}
}

// readDiscard reads and drops input of a closing connection until EOF.
func (l *loop) readDiscard(fd int32, sl *slot) {
	for i := 0; i < maxReadsPerWake; i++ {
		n, err := readFD(int(fd), l.buf)
		if err == unix.EAGAIN {
			return
		}
		if err != nil || n == 0 {
			l.finalClose(fd, sl)
			return
		}
	}
}

// feed runs the frame parser over data. A connection with no partial state
// uses the loop's scratch Reader; only when a frame or message is left
// unfinished does it take a pooled Reader of its own, returned as soon as
// it is idle again.
func (l *loop) feed(fd int32, sl *slot, data []byte) {
	s := l.s
	r := sl.rd
	if r == nil {
		r = &l.rd
	}
	l.sink.fd, l.sink.gen, l.sink.sl = fd, sl.gen, sl
	err := r.Feed(data, &s.rcfg, &l.sink)
	l.sink.sl = nil
	l.answerPing(fd, sl)
	switch {
	case err != nil || sl.state != stOpen:
		r.Reset()
		if r != &l.rd {
			s.readers.Put(r)
			sl.rd = nil
		}
	case r == &l.rd && !r.Idle():
		pr := s.readers.Get().(*wsproto.Reader)
		*pr = l.rd
		l.rd = wsproto.Reader{}
		sl.rd = pr
	case r != &l.rd && r.Idle():
		r.Reset()
		s.readers.Put(r)
		sl.rd = nil
	}
	if err == nil || err == errStop {
		return
	}
	var ce *wsproto.CloseError
	switch {
	case errors.As(err, &ce):
		l.closeWith(fd, sl, ce.Code, ce.Reason, reasonProtocol)
	case errors.Is(err, ErrSlowConsumer):
		l.closeWith(fd, sl, wsproto.CloseTryAgainLater, "slow consumer", reasonSlow)
	case errors.Is(err, ErrClosed):
		// The handler wrote to a socket that broke; the read side will
		// report it.
		l.abort(fd, sl, reasonWriteFailed)
	default:
		s.logEvery(&s.lastHandlerErr, "handler error; closing with 1011", "err", err, "client", l.clientAddr(fd))
		l.closeWith(fd, sl, wsproto.CloseInternalError, "internal error", reasonHandler)
	}
}

// loopSink receives parsed frames for the connection being fed.
type loopSink struct {
	l   *loop
	fd  int32
	gen uint32
	sl  *slot
}

func (k *loopSink) conn() Conn { return Conn{s: k.l.s, fd: k.fd, gen: k.gen} }

// OnMessage passes a complete message to the handler, after the pong owed
// for pings that came before it.
func (k *loopSink) OnMessage(op wsproto.OpCode, payload []byte) error {
	k.l.answerPing(k.fd, k.sl)
	k.l.s.m.msgsIn.Inc()
	return k.l.s.cfg.Handler.OnMessage(k.conn(), op, payload)
}

// OnPing notes the payload for a pong (RFC 6455 §5.5.3: the Pong carries
// the Ping's application data). The pong goes out before the next message
// or close of the connection is handled, or when the read being fed is
// parsed: of pings that arrive one after another, only the most recent is
// answered, as §5.5.3 allows ("If an endpoint receives a Ping frame and
// has not yet sent Pong frame(s) in response to previous Ping frame(s),
// the endpoint MAY elect to send a Pong frame for only the most recently
// processed Ping frame"). A read full of pings costs one pong, not one
// per ping.
func (k *loopSink) OnPing(payload []byte) error {
	l := k.l
	l.pongN = copy(l.pong[:], payload)
	l.pongWant = true
	return nil
}

// answerPing sends the pong owed for the most recent ping of the
// connection being fed, if any. A connection that is gone or closing
// (ErrClosed) is owed none.
func (l *loop) answerPing(fd int32, sl *slot) {
	if !l.pongWant {
		return
	}
	l.pongWant = false
	if sl.state == stOpen {
		_ = l.s.writeControl(fd, sl.gen, wsproto.OpPong, l.pong[:l.pongN])
	}
}

// OnClose answers a close frame with the same code (RFC 6455 §5.5.1: "the
// endpoint typically echos the status code it received"), 1000 when it had
// none, and stops reading.
func (k *loopSink) OnClose(code wsproto.StatusCode, reason []byte) error {
	k.l.answerPing(k.fd, k.sl)
	reply := code
	if reply == wsproto.CloseNoStatus {
		reply = wsproto.CloseNormal
	}
	k.l.closeWith(k.fd, k.sl, reply, "", reasonPeerClose)
	return errStop
}
