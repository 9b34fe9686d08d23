//go:build linux

package server

import (
	"context"
	"errors"
	"time"

	"golang.org/x/sys/unix"

	"c1m/wsproto"
)

// Shutdown drains the server, in four steps:
//
//  1. Deregistration: /readyz answers 503 for Config.DrainDelay while the
//     server goes on serving and accepting, so that a load balancer stops
//     sending it new clients before they would be refused.
//  2. The listeners shut: new connections are refused (reset), handshakes
//     in progress get 503.
//  3. A Handler that is a Drainer finishes what it accepted (BeforeDrain).
//  4. Every connection gets, after what is already queued for it (and the
//     Drainer's last message, OnDrain), a close frame 1001 with
//     DrainReason, at Config.DrainRate per second (0: the connection count
//     spread over three quarters of what is left of the timeout), so that
//     clients reconnect to other nodes spread over time.
//
// Steps 2-4 share Config.DrainTimeout: sockets still open when it ends
// (or when ctx ends, at any step) are closed (drain_forced). Shutdown
// returns when every loop has stopped.
func (s *Server) Shutdown(ctx context.Context) error {
	if !s.deregistered.CompareAndSwap(false, true) {
		return errors.New("cannot shut down: already shutting down")
	}
	if d := s.cfg.DrainDelay; d > 0 {
		s.log.Info("deregistering: /readyz answers 503; closing the listeners after the delay", "delay", d, "connections", s.open.Load())
		t := time.NewTimer(d)
		select {
		case <-t.C:
		case <-ctx.Done():
		}
		t.Stop()
	}
	dctx, cancel := context.WithTimeout(ctx, s.cfg.DrainTimeout)
	defer cancel()
	// Stop accepting: shutdown(SHUT_RD) on a listening socket resets the
	// connections waiting in its backlog and refuses new ones, so clients
	// told to reconnect go elsewhere instead of hanging here until the
	// drain ends. The fds stay open (and so unique) until the loops have
	// stopped polling them.
	// draining first: a loop woken by the shut listener must already see
	// it, or it would call accept4 and get EINVAL.
	s.draining.Store(true)
	for _, fd := range s.lfds {
		_ = unix.Shutdown(fd, unix.SHUT_RD)
	}
	s.wakeLoops()
	if d, ok := s.cfg.Handler.(Drainer); ok {
		d.BeforeDrain(dctx)
	}
	open := s.open.Load()
	left := time.Until(deadlineOf(dctx))
	rate := drainRate(s.cfg.DrainRate, open, left)
	s.closeRate.Store(rate)
	s.closing.Store(true)
	s.log.Info("draining", "connections", open, "rate_per_s", rate, "time_left", left.Round(time.Millisecond))
	s.wakeLoops()
	forced := false
	select {
	case <-s.allDrain:
	case <-dctx.Done():
		forced = true
	}
	if forced {
		s.log.Warn("drain timeout: closing remaining connections", "connections", s.open.Load(), "sockets", s.live.Load())
	}
	s.stopLoops()
	s.closeListeners()
	hctx, hcancel := context.WithTimeout(context.Background(), time.Second)
	s.stopHTTP(hctx)
	hcancel()
	s.log.Info("drained", "forced", forced)
	return nil
}

func (s *Server) wakeLoops() {
	for _, l := range s.loops {
		_ = l.p.Wake()
	}
}

func deadlineOf(ctx context.Context) time.Time {
	d, _ := ctx.Deadline()
	return d
}

// minDrainRate is the slowest derived drain: a few connections still
// close within a second or two.
const minDrainRate = 100

// drainRate returns the close frames per second of a drain of open
// connections with left to go: the configured rate, or (0) the count
// spread over three quarters of the time left, so that the close frames
// and the flushing of what is queued ahead of them fit in the timeout.
func drainRate(configured int, open int64, left time.Duration) int64 {
	if configured > 0 {
		return int64(configured)
	}
	spread := left.Seconds() * 0.75
	if spread <= 0 {
		return max(open, minDrainRate)
	}
	return max(int64(float64(open)/spread)+1, minDrainRate)
}

// drainStep sends close frames (1001 with a reconnect hint) to this loop's
// connections at its share of the drain rate, so that clients reconnect to
// other nodes spread over time rather than in one stampede.
func (l *loop) drainStep() {
	s := l.s
	if !l.drainOn {
		l.drainOn = true
		l.stopListening()
		l.drainCursor = 0
		l.drainBudget = 0
		// Each loop drains its share of the rate in proportion to the
		// sockets it owns, so that uneven loops still add up to
		// Config.DrainRate overall.
		l.drainShare = 1 / float64(len(s.loops))
		if live := s.live.Load(); live > 0 {
			l.drainShare = float64(l.owned) / float64(live)
		}
	}
	perTick := float64(s.closeRate.Load()) * l.tick.Seconds() * l.drainShare
	l.drainBudget += perTick
	if l.drainBudget > 2*perTick+1 {
		l.drainBudget = 2*perTick + 1
	}
	for l.drainCursor < len(s.table) && l.drainBudget >= 1 {
		fd := int32(l.drainCursor)
		l.drainCursor++
		sl := &s.table[fd]
		if !l.owns(sl) {
			continue
		}
		switch sl.state {
		case stOpen:
			l.drainBudget--
			if d, ok := s.cfg.Handler.(Drainer); ok {
				d.OnDrain(Conn{s: s, fd: fd, gen: sl.gen})
			}
			l.closeWith(fd, sl, wsproto.CloseGoingAway, DrainReason, reasonDrain)
		case stHandshake:
			l.reject(fd, sl, 503, "server is draining; reconnect to another node", hsDraining)
		}
	}
	// No new sockets arrive while draining (the listeners are shut), so a
	// loop that owns none is done, wherever its cursor is.
	if l.owned == 0 {
		s.loopDrained(l.id)
	}
}

// DrainReason is the close reason sent with 1001 while draining: it tells
// clients to reconnect, to another node, after a short random back-off.
const DrainReason = "server draining; reconnect with jittered backoff"

// forceCloseAll closes every socket the loop still owns (drain timeout).
func (l *loop) forceCloseAll() {
	s := l.s
	for fd := range s.table {
		sl := &s.table[fd]
		if !l.owns(sl) {
			continue
		}
		if sl.state == stOpen {
			s.m.closed[reasonForced].Inc()
		}
		l.finalClose(int32(fd), sl)
	}
}

// loopDrained records that loop id has no sockets left while draining.
func (s *Server) loopDrained(id int) {
	s.drainedMu.Lock()
	defer s.drainedMu.Unlock()
	if s.drained[id] {
		return
	}
	s.drained[id] = true
	if len(s.drained) == len(s.loops) {
		close(s.allDrain)
	}
}
