package app

import (
	"encoding/json"
	"errors"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/VictoriaMetrics/metrics"

	"c1m/broadcast"
	"c1m/server"
	"c1m/wsproto"
)

// protocol is the engine Handler for c1m's JSON client protocol
// (docs/protocol.md): join and leave rooms, room and direct messages,
// errors as JSON frames, fanned out through the App's hub.
//
// Concurrency: the Handler methods run on the connection's loop; the
// per-connection state is fd-indexed and touched only there.
type protocol struct {
	a      *App
	conns  []connState // by fd; sized by bind
	users  *userTable
	claims *claimTable
	exp    *expiries // nil unless Config.ExpireClose
	start  time.Time

	burst, perMs float32
	rateLimited  *metrics.Counter
	errorsSent   *metrics.Counter
	reconnects   *metrics.Counter
	reconnectMs  atomic.Int64 // the drain's reconnect window, set by BeforeDrain
}

// connState is the protocol's per-connection state, paid by every idle
// connection, 16 bytes and no pointer: the rate bucket of an anonymous
// connection, or the index of its user's entry (whose bucket it shares
// with the user's other connections and keeps across reconnects). The
// token's restrictions are interned in claims, named by the connection's
// engine Tag.
type connState struct {
	b    bucket
	user uint32 // userTable index; 0: anonymous
}

// Bounds of the user table: a user id gone for recentWindow is forgotten
// (its bucket would be full again by then, and it no longer counts as a
// reconnect), and at most maxIdleUsers gone users are kept.
const (
	recentWindow = 5 * time.Minute
	maxIdleUsers = 100_000
)

func newProtocol(a *App) *protocol {
	return &protocol{a: a, start: time.Now(), burst: float32(a.cfg.RateBurst), perMs: float32(a.cfg.RateRefill / 1000),
		users: newUserTable(recentWindow.Milliseconds(), maxIdleUsers), claims: newClaimTable()}
}

// bind sizes the fd-indexed state for an engine of maxFDs slots.
func (p *protocol) bind(maxFDs int) { p.conns = make([]connState, maxFDs) }

func (p *protocol) nowMs() uint32 { return uint32(time.Since(p.start) / time.Millisecond) }

// OnOpen registers the connection with its user, its token's
// restrictions and (with ExpireClose) its token's expiry. A user over
// ConnsPerUser has its oldest connection closed.
func (p *protocol) OnOpen(c server.Conn, id *server.Identity) {
	now := p.nowMs()
	cid := connID(c)
	st := &p.conns[c.FD()]
	*st = connState{b: bucket{tokens: p.burst, last: now}}
	c.SetTag(p.claims.acquire(id))
	if id.User != "" {
		idx, seen, oldest, over := p.users.open(id.User, cid, now, p.a.cfg.ConnsPerUser, p.burst)
		st.user = idx
		if seen {
			p.reconnects.Inc()
		}
		if over {
			p.a.eng.Conn(oldest.FD, oldest.Gen).Close(wsproto.ClosePolicyViolation, "replaced by a newer connection of the same user")
		}
	}
	if err := p.a.hub.Register(cid, id.User); err != nil {
		c.Close(wsproto.ClosePolicyViolation, "bad user id")
	}
	if p.exp != nil {
		p.exp.add(cid, id.Expires)
	}
}

// OnClose unregisters the connection.
func (p *protocol) OnClose(c server.Conn, _ wsproto.StatusCode) {
	cid := connID(c)
	st := &p.conns[c.FD()]
	if st.user != 0 {
		p.users.close(st.user, cid, p.nowMs())
	}
	p.claims.release(c.Tag())
	p.a.hub.Unregister(cid)
	if p.exp != nil {
		p.exp.remove(cid)
	}
	*st = connState{}
}

// take spends a message of the connection's (or its user's) rate; when
// refused it returns the refusals in a row.
func (p *protocol) take(st *connState) (ok bool, strikes uint16) {
	b := &st.b
	if st.user != 0 {
		if e := p.users.get(st.user); e != nil {
			e.mu.Lock()
			defer e.mu.Unlock()
			b = &e.b
		}
	}
	if b.take(p.nowMs(), p.burst, p.perMs) {
		b.strikes = 0
		return true, 0
	}
	if b.strikes < ^uint16(0) {
		b.strikes++
	}
	return false, b.strikes
}

// Error codes of the protocol's error frames.
const (
	errCodeBadJSON     = "bad_json"
	errCodeBadRequest  = "bad_request"
	errCodeUnknownType = "unknown_type"
	errCodeTooLarge    = "too_large"
	errCodeRateLimited = "rate_limited"
	errCodeForbidden   = "forbidden"
	errCodeTooMany     = "too_many_rooms"
	errCodeRoomFull    = "room_full"
	errCodeNotMember   = "not_member"
	errCodeOverloaded  = "overloaded"
	errCodeDraining    = "shutting_down"
	errCodeUnavailable = "unavailable"
	errCodeNoHistory   = "history_unavailable"
	errCodeNoDM        = "forbidden"
)

// OnMessage handles one client message.
func (p *protocol) OnMessage(c server.Conn, op wsproto.OpCode, msg []byte) error {
	st := &p.conns[c.FD()]
	var e envelope
	if ok, strikes := p.take(st); !ok {
		p.rateLimited.Inc()
		if int(strikes) >= p.a.cfg.AbuseLimit {
			return &wsproto.CloseError{Code: wsproto.ClosePolicyViolation, Reason: "rate limit abuse"}
		}
		return p.reply(c, nil, errCodeRateLimited, "too many messages; slow down")
	}
	if op != wsproto.OpText {
		return p.reply(c, nil, errCodeBadRequest, "messages are JSON text frames")
	}
	if !json.Valid(msg) || parseEnvelope(msg, &e) != nil {
		return p.reply(c, nil, errCodeBadJSON, "the message is not a JSON object")
	}
	hub := p.a.hub
	switch string(e.typ) {
	case "join":
		return p.join(c, &e)
	case "leave":
		if err := hub.Leave(connID(c), string(e.room)); err != nil {
			return p.reply(c, e.id, errCodeNotMember, "not a member of that room")
		}
		return p.ok(c, e.id, `{"type":"left","room":`, e.roomRaw, -1)
	case "room_message":
		if !p.mayUse(c, e.room) {
			return p.reply(c, e.id, errCodeForbidden, "your token does not allow that room")
		}
		return p.publish(c, &e, broadcast.ToRoom(string(e.room)))
	case "direct_message":
		if len(e.to) == 0 {
			return p.reply(c, e.id, errCodeBadRequest, "direct_message needs \"to\"")
		}
		if r := p.claims.get(c.Tag()); r != nil && !r.MayMessage(string(e.to)) {
			return p.reply(c, e.id, errCodeNoDM, "your token does not allow direct messages to that user")
		}
		return p.publish(c, &e, broadcast.ToUser(string(e.to)))
	case "":
		return p.reply(c, e.id, errCodeBadRequest, "the message has no \"type\"")
	}
	return p.reply(c, e.id, errCodeUnknownType, "unknown message type")
}

func (p *protocol) mayUse(c server.Conn, room []byte) bool {
	if len(room) == 0 {
		return false
	}
	r := p.claims.get(c.Tag())
	return r == nil || r.MayUseRoom(string(room))
}

func (p *protocol) join(c server.Conn, e *envelope) error {
	if len(e.room) == 0 {
		return p.reply(c, e.id, errCodeBadRequest, "join needs \"room\"")
	}
	if !p.mayUse(c, e.room) {
		return p.reply(c, e.id, errCodeForbidden, "your token does not allow that room")
	}
	join := p.a.hub.Join
	if e.hasSince {
		join = p.a.hub.JoinFrom // the live stream waits for the catch-up
	}
	n, err := join(connID(c), string(e.room), e.presence)
	switch {
	case errors.Is(err, broadcast.ErrTooManyRooms):
		return p.reply(c, e.id, errCodeTooMany, "too many rooms on this connection")
	case errors.Is(err, broadcast.ErrRoomFull):
		return p.reply(c, e.id, errCodeRoomFull, "the room is full")
	case errors.Is(err, broadcast.ErrBadName):
		return p.reply(c, e.id, errCodeBadRequest, "bad room name")
	case err != nil:
		return p.reply(c, e.id, errCodeBadRequest, "cannot join")
	}
	if cl := p.a.clu.cl; cl != nil {
		n = cl.RoomCount(string(e.room)) // every node's members
	}
	if err := p.ok(c, e.id, `{"type":"joined","room":`, e.roomRaw, n); err != nil || !e.hasSince {
		return err
	}
	p.catchUp(c, broadcast.ToRoom(string(e.room)), e.since)
	return nil
}

func (p *protocol) publish(c server.Conn, e *envelope, t broadcast.Target) error {
	if e.data == nil {
		return p.reply(c, e.id, errCodeBadRequest, "the message has no \"data\"")
	}
	if len(e.data) > p.a.cfg.MaxData {
		return p.reply(c, e.id, errCodeTooLarge, "data is over the size limit")
	}
	hub := p.a.hub
	if p.a.clu.cl != nil {
		return p.publishCluster(c, e, t)
	}
	seq, err := hub.Publish(t, hub.UserOf(connID(c)), e.data)
	switch {
	case errors.Is(err, broadcast.ErrBacklog):
		return p.reply(c, e.id, errCodeOverloaded, "the server is overloaded; retry later")
	case errors.Is(err, broadcast.ErrDraining):
		return p.reply(c, e.id, errCodeDraining, "the server is shutting down; send again after reconnecting")
	case err != nil:
		return p.reply(c, e.id, errCodeBadRequest, "cannot publish")
	}
	if e.id == nil {
		return nil
	}
	return c.WriteMessage(wsproto.OpText, appendAck(c.Scratch(), e.id, t, seq, false))
}

// appendAck appends {"type":"ack","id":...,"seq":N} (or "local":true for
// a message delivered on this node only). A direct message's ack carries
// no seq: it would tell the sender whether the recipient is online (0
// when not) and how many direct messages it got; the ack is the same
// either way.
func appendAck(b, id []byte, t broadcast.Target, seq uint64, local bool) []byte {
	b = append(b, `{"type":"ack","id":`...)
	b = append(b, id...)
	switch {
	case local:
		b = append(b, `,"local":true`...)
	case t.Kind != broadcast.KindUser:
		b = append(b, `,"seq":`...)
		b = strconv.AppendUint(b, seq, 10)
	}
	return append(b, '}')
}

// ok sends {"type":...,"room":...[,"count":n][,"id":...]}; roomRaw is the
// client's own JSON string token, echoed as it came.
func (p *protocol) ok(c server.Conn, id []byte, head string, roomRaw []byte, count int) error {
	b := append(c.Scratch(), head...)
	b = append(b, roomRaw...)
	if count >= 0 {
		b = append(b, `,"count":`...)
		b = strconv.AppendInt(b, int64(count), 10)
	}
	if id != nil {
		b = append(b, `,"id":`...)
		b = append(b, id...)
	}
	b = append(b, '}')
	return c.WriteMessage(wsproto.OpText, b)
}

// reply sends an error frame {"type":"error","code":...,"message":...}.
func (p *protocol) reply(c server.Conn, id []byte, code, msg string) error {
	p.errorsSent.Inc()
	err := c.WriteMessage(wsproto.OpText, appendError(c.Scratch(), id, code, msg))
	if errors.Is(err, server.ErrClosed) {
		return nil
	}
	return err
}

// appendError appends {"type":"error","code":...,"message":...[,"id":...]}.
func appendError(b, id []byte, code, msg string) []byte {
	b = append(b, `{"type":"error","code":"`...)
	b = append(b, code...)
	b = append(b, `","message":`...)
	b = broadcast.AppendJSONString(b, msg)
	if id != nil {
		b = append(b, `,"id":`...)
		b = append(b, id...)
	}
	return append(b, '}')
}
