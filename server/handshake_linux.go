//go:build linux

package server

import (
	"bytes"
	"net/url"
	"strings"

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
