//go:build linux

package server

import (
	"context"
	"fmt"
	"time"

	"golang.org/x/sys/unix"

	"c1m/wsproto"
)

// Shutdown drains the server: /readyz turns 503, listeners stop, every
// client gets a close frame 1001 with DrainReason at Config.DrainRate per
// second, and sockets still open after Config.DrainTimeout (or when ctx
// ends) are closed. It returns when every loop has stopped.
func (s *Server) Shutdown(ctx context.Context) error {
	if !s.draining.CompareAndSwap(false, true) {
		return fmt.Errorf("cannot shut down: already shutting down")
	}
	s.log.Info("draining", "connections", s.open.Load(), "rate_per_s", s.cfg.DrainRate, "timeout", s.cfg.DrainTimeout)
	// Stop accepting at once: shutdown(SHUT_RD) on a listening socket
	// resets the connections waiting in its backlog and refuses new ones,
	// so clients told to reconnect go elsewhere instead of hanging here
	// until the drain ends. The fds stay open (and so unique) until the
	// loops have stopped polling them.
	for _, fd := range s.lfds {
		_ = unix.Shutdown(fd, unix.SHUT_RD)
	}
	for _, l := range s.loops {
		_ = l.p.Wake()
	}
	timer := time.NewTimer(s.cfg.DrainTimeout)
	defer timer.Stop()
	forced := false
	select {
	case <-s.allDrain:
	case <-timer.C:
		forced = true
	case <-ctx.Done():
		forced = true
	}
	if forced {
		s.log.Warn("drain timeout: closing remaining connections", "connections", s.open.Load(), "sockets", s.live.Load())
	}
	s.stopLoops()
	s.closeListeners()
	hctx, cancel := context.WithTimeout(context.Background(), time.Second)
	s.stopHTTP(hctx)
	cancel()
	s.log.Info("drained", "forced", forced)
	return nil
}

// drainStep sends close frames (1001 with a reconnect hint) to this loop's
// connections at its share of Config.DrainRate per second, so that clients
// reconnect to other nodes spread over time rather than in one stampede.
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
	perTick := float64(s.cfg.DrainRate) * l.tick.Seconds() * l.drainShare
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
