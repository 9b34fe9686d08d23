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
	a     *App
	conns []connState // by fd; sized by bind
	start time.Time

	burst, perMs float32
	rateLimited  *metrics.Counter
	errorsSent   *metrics.Counter
	reconnectMs  atomic.Int64 // the drain's reconnect window, set by BeforeDrain
}

// connState is the protocol's per-connection state: the rate bucket and
// the rooms claim (the user lives in the Hub). 24 bytes: it is paid by
// every idle connection.
type connState struct {
	b     bucket
	rooms *[]string // nil: any room
}

func newProtocol(a *App) *protocol {
	return &protocol{a: a, start: time.Now(), burst: float32(a.cfg.RateBurst), perMs: float32(a.cfg.RateRefill / 1000)}
}

// bind sizes the fd-indexed state for an engine of maxFDs slots.
func (p *protocol) bind(maxFDs int) { p.conns = make([]connState, maxFDs) }

func (p *protocol) nowMs() uint32 { return uint32(time.Since(p.start) / time.Millisecond) }

// OnOpen registers the connection with its user and rooms claim.
func (p *protocol) OnOpen(c server.Conn, id *server.Identity) {
	st := &p.conns[c.FD()]
	*st = connState{b: bucket{tokens: p.burst, last: p.nowMs()}}
	if id.Rooms != nil {
		rooms := id.Rooms
		st.rooms = &rooms
	}
	if err := p.a.hub.Register(connID(c), id.User); err != nil {
		c.Close(wsproto.ClosePolicyViolation, "bad user id")
	}
}

// OnClose unregisters the connection.
func (p *protocol) OnClose(c server.Conn, _ wsproto.StatusCode) {
	p.a.hub.Unregister(connID(c))
	p.conns[c.FD()] = connState{}
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
)

// OnMessage handles one client message.
func (p *protocol) OnMessage(c server.Conn, op wsproto.OpCode, msg []byte) error {
	st := &p.conns[c.FD()]
	var e envelope
	if !st.b.take(p.nowMs(), p.burst, p.perMs) {
		p.rateLimited.Inc()
		st.b.strikes++
		if int(st.b.strikes) >= p.a.cfg.AbuseLimit {
			return &wsproto.CloseError{Code: wsproto.ClosePolicyViolation, Reason: "rate limit abuse"}
		}
		return p.reply(c, nil, errCodeRateLimited, "too many messages; slow down")
	}
	st.b.strikes = 0
	if op != wsproto.OpText {
		return p.reply(c, nil, errCodeBadRequest, "messages are JSON text frames")
	}
	if !json.Valid(msg) || parseEnvelope(msg, &e) != nil {
		return p.reply(c, nil, errCodeBadJSON, "the message is not a JSON object")
	}
	hub := p.a.hub
	switch string(e.typ) {
	case "join":
		return p.join(c, st, &e)
	case "leave":
		if err := hub.Leave(connID(c), string(e.room)); err != nil {
			return p.reply(c, e.id, errCodeNotMember, "not a member of that room")
		}
		return p.ok(c, e.id, `{"type":"left","room":`, e.roomRaw, -1)
	case "room_message":
		if !p.mayUse(st, e.room) {
			return p.reply(c, e.id, errCodeForbidden, "your token does not allow that room")
		}
		return p.publish(c, &e, broadcast.ToRoom(string(e.room)))
	case "direct_message":
		if len(e.to) == 0 {
			return p.reply(c, e.id, errCodeBadRequest, "direct_message needs \"to\"")
		}
		return p.publish(c, &e, broadcast.ToUser(string(e.to)))
	case "":
		return p.reply(c, e.id, errCodeBadRequest, "the message has no \"type\"")
	}
	return p.reply(c, e.id, errCodeUnknownType, "unknown message type")
}

func (p *protocol) mayUse(st *connState, room []byte) bool {
	if len(room) == 0 {
		return false
	}
	if st.rooms == nil {
		return true
	}
	id := server.Identity{Rooms: *st.rooms}
	return id.MayUseRoom(string(room))
}

func (p *protocol) join(c server.Conn, st *connState, e *envelope) error {
	if len(e.room) == 0 {
		return p.reply(c, e.id, errCodeBadRequest, "join needs \"room\"")
	}
	if !p.mayUse(st, e.room) {
		return p.reply(c, e.id, errCodeForbidden, "your token does not allow that room")
	}
	n, err := p.a.hub.Join(connID(c), string(e.room), e.presence)
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
	return p.ok(c, e.id, `{"type":"joined","room":`, e.roomRaw, n)
}

func (p *protocol) publish(c server.Conn, e *envelope, t broadcast.Target) error {
	if e.data == nil {
		return p.reply(c, e.id, errCodeBadRequest, "the message has no \"data\"")
	}
	if len(e.data) > p.a.cfg.MaxData {
		return p.reply(c, e.id, errCodeTooLarge, "data is over the size limit")
	}
	hub := p.a.hub
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
	b := append(c.Scratch(), `{"type":"ack","id":`...)
	b = append(b, e.id...)
	b = append(b, `,"seq":`...)
	b = strconv.AppendUint(b, seq, 10)
	b = append(b, '}')
	return c.WriteMessage(wsproto.OpText, b)
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
	b := append(c.Scratch(), `{"type":"error","code":"`...)
	b = append(b, code...)
	b = append(b, `","message":`...)
	b = broadcast.AppendJSONString(b, msg)
	if id != nil {
		b = append(b, `,"id":`...)
		b = append(b, id...)
	}
	b = append(b, '}')
	err := c.WriteMessage(wsproto.OpText, b)
	if errors.Is(err, server.ErrClosed) {
		return nil
	}
	return err
}
