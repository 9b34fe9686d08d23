//go:build linux

package server

import (
	"bytes"
	"net/url"
	"strings"

	"golang.org/x/sys/unix"

	"c1m/wsproto"
)

// tokenProtocolPrefix marks the subprotocol that carries a JWT: browsers
// cannot set an Authorization header on a WebSocket, but they can offer
// subprotocols, so the client offers "token.<jwt>" and the server echoes
// it back (RFC 6455 §4.2.2: the chosen subprotocol must be one offered).
const tokenProtocolPrefix = "token."

// hsScratch is what the Upgrader's callbacks gather during one handshake.
// It belongs to the loop and is reset before every Upgrade.
type hsScratch struct {
	queryToken []byte
	queryUser  []byte
}

var (
	errOrigin = &wsproto.HandshakeError{Status: 403, Reason: "origin not allowed"}
	origKey   = []byte("Origin")
)

// initUpgrader binds the loop's Upgrader callbacks once (method values
// allocate; binding them per handshake would allocate per upgrade).
func (l *loop) initUpgrader() {
	cfg := &l.s.cfg
	l.up = wsproto.Upgrader{Path: cfg.Path, MaxHeaderBytes: cfg.MaxHeaderBytes}
	if cfg.Auth == nil || cfg.AllowQueryToken {
		l.up.OnRequest = l.onRequest
	}
	if len(cfg.AllowedOrigins) > 0 {
		l.up.OnHeader = l.onHeader
	}
	if cfg.Auth != nil {
		l.up.Protocol = isTokenProtocol
	}
}

func isTokenProtocol(p []byte) bool { return bytes.HasPrefix(p, []byte(tokenProtocolPrefix)) }

// onRequest captures the access_token (when allowed) and, in anonymous
// mode, the user query parameters.
func (l *loop) onRequest(uri []byte) error {
	_, q, ok := bytes.Cut(uri, []byte("?"))
	if !ok {
		return nil
	}
	for len(q) > 0 {
		var kv []byte
		kv, q, _ = bytes.Cut(q, []byte("&"))
		k, v, _ := bytes.Cut(kv, []byte("="))
		switch {
		case l.s.cfg.AllowQueryToken && string(k) == "access_token":
			l.hs.queryToken = append(l.hs.queryToken[:0], v...)
		case l.s.cfg.Auth == nil && string(k) == "user":
			l.hs.queryUser = append(l.hs.queryUser[:0], v...)
		}
	}
	return nil
}

// onHeader enforces the Origin allow-list. A request without Origin (not
// from a browser) is let through: Origin protects browsers from
// cross-site use (RFC 6455 §10.2), it does not authenticate.
func (l *loop) onHeader(key, value []byte) error {
	if !bytes.Equal(key, origKey) {
		return nil
	}
	for _, o := range l.s.cfg.AllowedOrigins {
		if string(value) == o {
			return nil
		}
	}
	l.s.m.authFailures[AuthOrigin].Inc()
	return errOrigin
}

func (l *loop) resetHandshakeScratch() {
	l.hs.queryToken = l.hs.queryToken[:0]
	l.hs.queryUser = l.hs.queryUser[:0]
}

// authenticate establishes the connection's identity after a valid
// upgrade request. ok is false when the request must be answered 401.
func (l *loop) authenticate(hs *wsproto.Handshake) (id Identity, ok bool) {
	s := l.s
	if s.cfg.Auth == nil {
		if len(l.hs.queryUser) > 0 {
			if u, err := url.QueryUnescape(string(l.hs.queryUser)); err == nil {
				id.User = u
			}
		}
		return id, true
	}
	token := strings.TrimPrefix(hs.Protocol, tokenProtocolPrefix)
	if hs.Protocol == "" {
		token = string(l.hs.queryToken)
	}
	id, err := s.cfg.Auth.Authenticate(token)
	if err != nil {
		// The reason goes to the metric; the token never goes anywhere.
		s.m.authFailures[authReason(err)].Inc()
		return Identity{}, false
	}
	return id, true
}

// readHandshake gathers the HTTP head. A head that arrives in one read
// (the usual case) is parsed straight from the loop buffer; only a head
// split across reads is copied into a pooled, fixed-size hsBuf.
func (l *loop) readHandshake(fd int32, sl *slot) {
	s := l.s
	max := s.cfg.MaxHeaderBytes
	// A head in progress continues in its hsBuf; a new one lands in the
	// loop buffer.
	into := l.buf
	if sl.hs != nil {
		into = sl.hs.b[len(sl.hs.b):cap(sl.hs.b)]
	}
	n, err := readFD(int(fd), into)
	if err == unix.EAGAIN {
		return
	}
	if err != nil || n == 0 {
		s.m.hsFailures[hsClosed].Inc()
		l.finalClose(fd, sl)
		return
	}
	s.m.bytesIn.Add(n)
	data := l.buf[:n]
	if sl.hs != nil {
		sl.hs.b = sl.hs.b[:len(sl.hs.b)+n]
		data = sl.hs.b
	}
	if s.cfg.ProxyProtocol && sl.lflags&lflagProxied == 0 {
		var ok bool
		if data, ok = l.proxyHeader(fd, sl, data); !ok {
			return
		}
	}
	end := wsproto.RequestEnd(data)
	if end < 0 || end > max {
		if end > max || len(data) >= max {
			// RFC 6585 §5: 431 Request Header Fields Too Large.
			l.reject(fd, sl, 431, "request header fields too large", hsTooLarge)
			return
		}
		if sl.hs == nil {
			sl.hs = s.hsPool.get()
			sl.hs.b = append(sl.hs.b, data...)
		}
		return
	}
	if sl.lflags&lflagRateIP != 0 {
		s.logEvery(&s.addrs.lastRateLog, "refusing new connections from a client over the accept rate per address (HTTP 429)", "client", l.clientAddr(fd))
		l.reject(fd, sl, 429, "too many connections from your address; retry later", hsRateLimited)
		return
	}
	if sl.lflags&lflagReject != 0 {
		if s.draining.Load() {
			l.reject(fd, sl, 503, "server is draining; reconnect to another node", hsDraining)
		} else {
			l.reject(fd, sl, 503, "server at capacity; retry later", hsCapacity)
		}
		return
	}
	l.resetHandshakeScratch()
	resp, hs, err := l.up.Upgrade(data[:end], l.wbuf[:0])
	if err != nil {
		s.m.hsFailures[hsBadRequest].Inc()
		l.sendAndLinger(fd, sl, resp)
		return
	}
	var ok bool
	// The identity lives in the loop, not on the stack: passing a stack
	// value's address to the Handler interface would move it to the heap
	// on every upgrade.
	l.ident, ok = l.authenticate(&hs)
	if !ok {
		l.reject(fd, sl, 401, "unauthorized: a valid token is required", hsUnauthorized)
		return
	}
	// Counted before the 101 goes out: a client holding its 101 is in
	// c1m_connections, never ahead of it.
	s.open.Add(1)
	if n, werr := writeFull(int(fd), resp); n != len(resp) {
		// A fresh socket's send buffer always takes ~200 bytes; anything
		// else means the peer is gone.
		_ = werr
		s.open.Add(-1)
		s.m.hsFailures[hsClosed].Inc()
		l.finalClose(fd, sl)
		return
	}
	s.m.bytesOut.Add(len(resp))
	sl.mu.Lock()
	sl.state = stOpen
	sl.mu.Unlock()
	s.m.opened.Inc()
	l.startHeartbeat(fd)
	s.cfg.Handler.OnOpen(Conn{s: s, fd: fd, gen: sl.gen}, &l.ident)
	l.ident = Identity{}
	rest := data[end:]
	if len(rest) > 0 && sl.state == stOpen {
		// Frames sent right behind the head (pipelined). rest may live
		// in the hsBuf; Feed copies what it keeps, so release it after.
		l.feed(fd, sl, rest)
	}
	if sl.hs != nil {
		s.hsPool.put(sl.hs)
		sl.hs = nil
	}
}

// reject answers the handshake with an HTTP error and lingers.
func (l *loop) reject(fd int32, sl *slot, status int, reason, metric string) {
	l.s.m.hsFailures[metric].Inc()
	l.sendAndLinger(fd, sl, wsproto.AppendHTTPError(l.wbuf[:0], status, reason))
}

// sendAndLinger writes an HTTP response to a connection still in the
// handshake, half-closes it and waits for the client's FIN.
func (l *loop) sendAndLinger(fd int32, sl *slot, resp []byte) {
	_, _ = writeFull(int(fd), resp)
	if sl.hs != nil {
		l.s.hsPool.put(sl.hs)
		sl.hs = nil
	}
	_ = unix.Shutdown(int(fd), unix.SHUT_WR)
	sl.mu.Lock()
	sl.state = stClosing
	sl.mu.Unlock()
	l.wheel.schedule(l.s.table, fd, l.ticks(l.s.cfg.CloseLinger))
}
