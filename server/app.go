package server

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/VictoriaMetrics/metrics"

	"c1m/broadcast"
	"c1m/wsproto"
)

// AppConfig configures the App, c1m's client protocol. Zero fields take
// the defaults named.
type AppConfig struct {
	Hub broadcast.Config // MaxFDs is filled in by Attach

	RateBurst  int     // messages a client may send at once, 10
	RateRefill float64 // messages per second refilled, 1
	// AbuseLimit is how many refusals in a row (rate limited) close the
	// connection with 1008, 100.
	AbuseLimit int
	// MaxData caps a message's data field in bytes, 16 KiB; larger gets
	// an error frame "too_large" (the frame limit, --max-message, closes
	// with 1009 instead).
	MaxData int
}

// App is the Handler for c1m's JSON client protocol (docs/protocol.md):
// join and leave rooms, room and direct messages, errors as JSON frames,
// fanned out through a broadcast.Hub. Create it with NewApp, pass it as
// Config.Handler, then Attach it to the Server before Start.
//
// Concurrency: the Handler methods run on the connection's loop; the
// per-connection state is fd-indexed and touched only there.
type App struct {
	cfg   AppConfig
	hub   *broadcast.Hub
	s     *Server
	conns []appConn
	start time.Time

	burst, perMs float32
	rateLimited  *metrics.Counter
	errorsSent   *metrics.Counter
}

// appConn is the App's per-connection state: the rate bucket and the
// rooms claim (the user lives in the Hub). 24 bytes: it is paid by every
// idle connection.
type appConn struct {
	b     bucket
	rooms *[]string // nil: any room
}

// NewApp validates cfg.
func NewApp(cfg AppConfig) (*App, error) {
	if cfg.RateBurst == 0 {
		cfg.RateBurst = 10
	}
	if cfg.RateRefill == 0 {
		cfg.RateRefill = 1
	}
	if cfg.AbuseLimit == 0 {
		cfg.AbuseLimit = 100
	}
	if cfg.MaxData == 0 {
		cfg.MaxData = 16 << 10
	}
	if cfg.RateBurst < 1 || cfg.RateRefill <= 0 || cfg.AbuseLimit < 1 || cfg.MaxData < 1 {
		return nil, fmt.Errorf("cannot configure the client protocol: rate burst, refill, abuse limit and max data must be positive")
	}
	return &App{cfg: cfg, burst: float32(cfg.RateBurst), perMs: float32(cfg.RateRefill / 1000)}, nil
}

// Attach creates the Hub on s (fd-indexed like s) and registers the
// messaging metrics. Call it after New and before Start.
func (a *App) Attach(s *Server) error {
	hc := a.cfg.Hub
	hc.MaxFDs = len(s.table)
	dur := s.m.set.NewHistogram("c1m_broadcast_duration_seconds")
	hc.OnBroadcast = func(d time.Duration, _ int) { dur.Update(d.Seconds()) }
	hub, err := broadcast.New(hc, Sender{S: s})
	if err != nil {
		return err
	}
	a.hub, a.s, a.start = hub, s, time.Now()
	a.conns = make([]appConn, len(s.table))
	set := s.m.set
	a.rateLimited = set.NewCounter("c1m_rate_limited_total")
	a.errorsSent = set.NewCounter("c1m_protocol_errors_total")
	st := func(f func(broadcast.Stats) int64) func() float64 {
		return func() float64 { return float64(f(hub.Stats())) }
	}
	set.NewGauge("c1m_deliveries_total", st(func(x broadcast.Stats) int64 { return x.Deliveries }))
	set.NewGauge(`c1m_slow_consumers_total{policy="`+hub.Policy().String()+`"}`, st(func(x broadcast.Stats) int64 {
		if hub.Policy() == broadcast.PolicyDrop {
			return x.Dropped
		}
		return x.SlowClosed
	}))
	set.NewGauge("c1m_dropped_messages_total", st(func(x broadcast.Stats) int64 { return x.Dropped }))
	set.NewGauge("c1m_published_total", st(func(x broadcast.Stats) int64 { return x.Published }))
	set.NewGauge("c1m_fanout_inline_chunks_total", st(func(x broadcast.Stats) int64 { return x.InlineChunks }))
	set.NewGauge("c1m_room_full_total", st(func(x broadcast.Stats) int64 { return x.RoomFull }))
	set.NewGauge("c1m_rooms", st(func(x broadcast.Stats) int64 { return int64(x.Rooms) }))
	set.NewGauge("c1m_users", st(func(x broadcast.Stats) int64 { return int64(x.Users) }))
	set.NewGauge("c1m_queued_bytes", func() float64 { return float64(s.queued.Load()) })
	return nil
}

// Hub returns the App's hub (nil before Attach).
func (a *App) Hub() *broadcast.Hub { return a.hub }

// Close stops the hub.
func (a *App) Close() {
	if a.hub != nil {
		a.hub.Close()
	}
}

func (a *App) nowMs() uint32 { return uint32(time.Since(a.start) / time.Millisecond) }

// OnOpen registers the connection with its user and rooms claim.
func (a *App) OnOpen(c Conn, id *Identity) {
	st := &a.conns[c.fd]
	*st = appConn{b: bucket{tokens: a.burst, last: a.nowMs()}}
	if id.Rooms != nil {
		rooms := id.Rooms
		st.rooms = &rooms
	}
	if err := a.hub.Register(c.ConnID(), id.User); err != nil {
		c.Close(wsproto.ClosePolicyViolation, "bad user id")
	}
}

// OnClose unregisters the connection.
func (a *App) OnClose(c Conn, _ wsproto.StatusCode) {
	a.hub.Unregister(c.ConnID())
	a.conns[c.fd] = appConn{}
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
)

// OnMessage handles one client message.
func (a *App) OnMessage(c Conn, op wsproto.OpCode, p []byte) error {
	st := &a.conns[c.fd]
	var e envelope
	if !st.b.take(a.nowMs(), a.burst, a.perMs) {
		a.rateLimited.Inc()
		st.b.strikes++
		if int(st.b.strikes) >= a.cfg.AbuseLimit {
			return &wsproto.CloseError{Code: wsproto.ClosePolicyViolation, Reason: "rate limit abuse"}
		}
		return a.reply(c, nil, errCodeRateLimited, "too many messages; slow down")
	}
	st.b.strikes = 0
	if op != wsproto.OpText {
		return a.reply(c, nil, errCodeBadRequest, "messages are JSON text frames")
	}
	if !json.Valid(p) || parseEnvelope(p, &e) != nil {
		return a.reply(c, nil, errCodeBadJSON, "the message is not a JSON object")
	}
	switch string(e.typ) {
	case "join":
		return a.join(c, st, &e)
	case "leave":
		if err := a.hub.Leave(c.ConnID(), string(e.room)); err != nil {
			return a.reply(c, e.id, errCodeNotMember, "not a member of that room")
		}
		return a.ok(c, e.id, `{"type":"left","room":`, e.roomRaw, -1)
	case "room_message":
		if !a.mayUse(st, e.room) {
			return a.reply(c, e.id, errCodeForbidden, "your token does not allow that room")
		}
		return a.publish(c, st, &e, broadcast.ToRoom(string(e.room)))
	case "direct_message":
		if len(e.to) == 0 {
			return a.reply(c, e.id, errCodeBadRequest, "direct_message needs \"to\"")
		}
		return a.publish(c, st, &e, broadcast.ToUser(string(e.to)))
	case "":
		return a.reply(c, e.id, errCodeBadRequest, "the message has no \"type\"")
	}
	return a.reply(c, e.id, errCodeUnknownType, "unknown message type")
}

func (a *App) mayUse(st *appConn, room []byte) bool {
	if len(room) == 0 {
		return false
	}
	if st.rooms == nil {
		return true
	}
	id := Identity{Rooms: *st.rooms}
	return id.MayUseRoom(string(room))
}

func (a *App) join(c Conn, st *appConn, e *envelope) error {
	if len(e.room) == 0 {
		return a.reply(c, e.id, errCodeBadRequest, "join needs \"room\"")
	}
	if !a.mayUse(st, e.room) {
		return a.reply(c, e.id, errCodeForbidden, "your token does not allow that room")
	}
	n, err := a.hub.Join(c.ConnID(), string(e.room), e.presence)
	switch {
	case errors.Is(err, broadcast.ErrTooManyRooms):
		return a.reply(c, e.id, errCodeTooMany, "too many rooms on this connection")
	case errors.Is(err, broadcast.ErrRoomFull):
		return a.reply(c, e.id, errCodeRoomFull, "the room is full")
	case errors.Is(err, broadcast.ErrBadName):
		return a.reply(c, e.id, errCodeBadRequest, "bad room name")
	case err != nil:
		return a.reply(c, e.id, errCodeBadRequest, "cannot join")
	}
	return a.ok(c, e.id, `{"type":"joined","room":`, e.roomRaw, n)
}

func (a *App) publish(c Conn, st *appConn, e *envelope, t broadcast.Target) error {
	if e.data == nil {
		return a.reply(c, e.id, errCodeBadRequest, "the message has no \"data\"")
	}
	if len(e.data) > a.cfg.MaxData {
		return a.reply(c, e.id, errCodeTooLarge, "data is over the size limit")
	}
	seq, err := a.hub.Publish(t, a.hub.UserOf(c.ConnID()), e.data)
	switch {
	case errors.Is(err, broadcast.ErrBacklog):
		return a.reply(c, e.id, errCodeOverloaded, "the server is overloaded; retry later")
	case err != nil:
		return a.reply(c, e.id, errCodeBadRequest, "cannot publish")
	}
	if e.id == nil {
		return nil
	}
	b := append(c.replyBuf(), `{"type":"ack","id":`...)
	b = append(b, e.id...)
	b = append(b, `,"seq":`...)
	b = strconv.AppendUint(b, seq, 10)
	b = append(b, '}')
	return c.WriteMessage(wsproto.OpText, b)
}

// ok sends {"type":...,"room":...[,"count":n][,"id":...]}; roomRaw is the
// client's own JSON string token, echoed as it came.
func (a *App) ok(c Conn, id []byte, head string, roomRaw []byte, count int) error {
	b := append(c.replyBuf(), head...)
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
func (a *App) reply(c Conn, id []byte, code, msg string) error {
	a.errorsSent.Inc()
	b := append(c.replyBuf(), `{"type":"error","code":"`...)
	b = append(b, code...)
	b = append(b, `","message":`...)
	b = broadcast.AppendJSONString(b, msg)
	if id != nil {
		b = append(b, `,"id":`...)
		b = append(b, id...)
	}
	b = append(b, '}')
	err := c.WriteMessage(wsproto.OpText, b)
	if errors.Is(err, ErrClosed) {
		return nil
	}
	return err
}
