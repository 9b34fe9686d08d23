package web

import (
	"bufio"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/gobwas/ws"
)

// Live feed limits.
const (
	// maxClientFrame caps a frame a viewer may send (the auth message);
	// larger is closed with 1009.
	maxClientFrame = 4 << 10
	// authTimeout is how long a viewer has to send its key when one is
	// required.
	authTimeout = 10 * time.Second
	// writeTimeout bounds one frame's write to a viewer; a viewer that
	// does not take a frame within it is dropped.
	writeTimeout = 10 * time.Second
	// viewerQueue is how many frames wait for a viewer; past it frames
	// are skipped for that viewer (it sees the next one).
	viewerQueue = 4
)

// liveFeed serves /v1/live: a WebSocket, upgraded by gobwas/ws in blocking
// mode on the net/http connection, that gets the sampler's history and
// then one Frame per interval. It is for a handful of operator pages, so
// each viewer costs two goroutines; at most max are open at once.
//
// Concurrency: handle runs on net/http's goroutine for the request and
// stays there while the viewer is open; publish and close may be called
// from any goroutine.
type liveFeed struct {
	max     int
	key     string // "" when no API key is configured
	log     *slog.Logger
	history func() []byte

	mu      sync.Mutex
	n       int // viewers reserved or open, ≤ max
	viewers map[*viewer]struct{}
	closed  bool
	wg      sync.WaitGroup // one per open viewer
}

// viewer is one open live feed connection. frames is written by publish
// and read by the handler's goroutine; wmu serializes writes to conn
// (frames, and the reader's pongs and close replies); live (guarded by
// liveFeed.mu) is set once the key, if any, has been given.
type viewer struct {
	conn   net.Conn
	live   bool
	frames chan []byte
	wmu    sync.Mutex
	stop   chan struct{}
	once   sync.Once
	code   ws.StatusCode // close code to send, set before stop is closed
	reason string
}

func newLiveFeed(max int, key string, log *slog.Logger, history func() []byte) *liveFeed {
	return &liveFeed{max: max, key: key, log: log, history: history, viewers: map[*viewer]struct{}{}}
}

// handle is GET /v1/live.
func (lf *liveFeed) handle(w http.ResponseWriter, r *http.Request) {
	if !sameOrigin(r) {
		apiError(w, http.StatusForbidden, "forbidden", "the live feed is only for pages of this origin")
		return
	}
	lf.mu.Lock()
	switch {
	case lf.closed:
		lf.mu.Unlock()
		apiError(w, http.StatusServiceUnavailable, "unavailable", "the server is shutting down")
		return
	case lf.n >= lf.max:
		lf.mu.Unlock()
		w.Header().Set("Retry-After", "5")
		apiError(w, http.StatusTooManyRequests, "too_many_viewers", "too many live feeds are open; close one")
		return
	}
	lf.n++
	lf.wg.Add(1)
	lf.mu.Unlock()
	defer func() {
		lf.mu.Lock()
		lf.n--
		lf.mu.Unlock()
		lf.wg.Done()
	}()

	conn, rw, _, err := ws.UpgradeHTTP(r, w)
	if err != nil {
		return // gobwas has answered the bad request with its status
	}
	defer conn.Close()
	// The Hijacker contract leaves the server's read and write deadlines
	// to the caller (net/http clears them today); the feed sets its own.
	_ = conn.SetDeadline(time.Time{})
	v := &viewer{conn: conn, frames: make(chan []byte, viewerQueue), stop: make(chan struct{})}
	if !lf.add(v) {
		v.close(ws.StatusGoingAway, "server shutting down")
		v.writeClose()
		return
	}
	defer lf.remove(v)
	if lf.key != "" && !lf.authorize(v, rw.Reader) {
		return
	}
	lf.mu.Lock()
	v.live = true
	lf.mu.Unlock()
	go v.readLoop(rw.Reader)
	if v.write(lf.history()) != nil {
		return
	}
	for {
		select {
		case fr := <-v.frames:
			if v.write(fr) != nil {
				return
			}
		case <-v.stop:
			v.writeClose()
			return
		}
	}
}

// authorize reads the viewer's first message, which must be
// {"type":"auth","key":"<API key>"} within authTimeout; anything else is
// closed with 1008. close interrupts it through the read deadline.
func (lf *liveFeed) authorize(v *viewer, br *bufio.Reader) bool {
	_ = v.conn.SetReadDeadline(time.Now().Add(authTimeout))
	for {
		op, p, err := readFrame(br)
		if err != nil {
			select {
			case <-v.stop: // closed by lf.close: say so
			default:
				v.close(closeCodeOf(err), err.Error())
			}
			v.writeClose()
			return false
		}
		switch op {
		case ws.OpPing:
			_ = v.writeFrame(ws.NewPongFrame(p))
			continue
		case ws.OpPong:
			continue
		case ws.OpClose:
			v.close(ws.StatusNormalClosure, "")
			v.writeClose()
			return false
		}
		var msg struct {
			Type string `json:"type"`
			Key  string `json:"key"`
		}
		if op != ws.OpText || json.Unmarshal(p, &msg) != nil || msg.Type != "auth" ||
			subtle.ConstantTimeCompare([]byte(msg.Key), []byte(lf.key)) != 1 {
			v.close(ws.StatusPolicyViolation, "a valid API key is required")
			v.writeClose()
			return false
		}
		_ = v.conn.SetReadDeadline(time.Time{})
		return true
	}
}

func (lf *liveFeed) add(v *viewer) bool {
	lf.mu.Lock()
	defer lf.mu.Unlock()
	if lf.closed {
		return false
	}
	lf.viewers[v] = struct{}{}
	return true
}

func (lf *liveFeed) remove(v *viewer) {
	lf.mu.Lock()
	delete(lf.viewers, v)
	lf.mu.Unlock()
}

// publish queues frame for every viewer past its key; a viewer whose
// queue is full skips it. frame must not be modified afterwards.
func (lf *liveFeed) publish(frame []byte) {
	lf.mu.Lock()
	defer lf.mu.Unlock()
	for v := range lf.viewers {
		if !v.live {
			continue
		}
		select {
		case v.frames <- frame:
		default:
		}
	}
}

// count returns the viewers open now (those still to give their key
// included).
func (lf *liveFeed) count() int {
	lf.mu.Lock()
	defer lf.mu.Unlock()
	return len(lf.viewers)
}

// close sends every viewer a close frame 1001 and waits until their
// handlers have returned. New viewers are refused with 503 afterwards.
func (lf *liveFeed) close() {
	lf.mu.Lock()
	lf.closed = true
	for v := range lf.viewers {
		v.close(ws.StatusGoingAway, "server shutting down")
		if !v.live {
			_ = v.conn.SetReadDeadline(time.Now()) // wake authorize
		}
	}
	lf.mu.Unlock()
	lf.wg.Wait()
}

// close asks the viewer's handler to send a close frame with code and
// reason and end. Only the first call counts.
func (v *viewer) close(code ws.StatusCode, reason string) {
	v.once.Do(func() {
		v.code, v.reason = code, reason
		close(v.stop)
	})
}

// readLoop reads the viewer's frames until the connection ends: pings are
// answered, a close is echoed, data frames are ignored.
func (v *viewer) readLoop(br *bufio.Reader) {
	for {
		op, p, err := readFrame(br)
		if err != nil {
			v.close(closeCodeOf(err), err.Error())
			return
		}
		switch op {
		case ws.OpPing:
			_ = v.writeFrame(ws.NewPongFrame(p))
		case ws.OpClose:
			code, _ := ws.ParseCloseFrameData(p)
			if code.Empty() {
				code = ws.StatusNormalClosure
			}
			v.close(code, "")
			return
		}
	}
}

func (v *viewer) write(p []byte) error { return v.writeFrame(ws.NewTextFrame(p)) }

func (v *viewer) writeFrame(f ws.Frame) error {
	v.wmu.Lock()
	defer v.wmu.Unlock()
	_ = v.conn.SetWriteDeadline(time.Now().Add(writeTimeout))
	return ws.WriteFrame(v.conn, f)
}

// writeClose sends the close frame chosen by close (after stop is closed).
func (v *viewer) writeClose() {
	code := v.code
	if code == 0 || code == ws.StatusNoStatusRcvd || code == ws.StatusAbnormalClosure {
		return // the peer is gone or sent no code: nothing to say
	}
	_ = v.writeFrame(ws.NewCloseFrame(ws.NewCloseFrameBody(code, v.reason)))
}

// Errors readFrame returns for a frame the feed does not accept.
var (
	errUnmasked = errors.New("web: client frames must be masked")
	errTooLarge = errors.New("web: frame too large")
)

// readFrame reads one whole frame from a client: masked (RFC 6455 §5.1),
// at most maxClientFrame bytes, unmasked into a new slice. Fragments are
// returned as they come (the feed only looks at small single-frame
// messages).
func readFrame(br *bufio.Reader) (ws.OpCode, []byte, error) {
	h, err := ws.ReadHeader(br)
	if err != nil {
		return 0, nil, err
	}
	if !h.Masked {
		return 0, nil, errUnmasked
	}
	if h.Length > maxClientFrame {
		return 0, nil, errTooLarge
	}
	p := make([]byte, h.Length)
	if _, err := io.ReadFull(br, p); err != nil {
		return 0, nil, err
	}
	ws.Cipher(p, h.Mask, 0)
	return h.OpCode, p, nil
}

// closeCodeOf maps a read error to the close code to send: 1009 for a
// frame over the cap, 1002 for a protocol error, 1006 (send nothing) when
// the connection is gone.
func closeCodeOf(err error) ws.StatusCode {
	switch {
	case errors.Is(err, errTooLarge):
		return ws.StatusMessageTooBig
	case errors.Is(err, errUnmasked), errors.Is(err, ws.ErrHeaderLengthUnexpected), errors.Is(err, ws.ErrHeaderLengthMSB):
		return ws.StatusProtocolError
	}
	return ws.StatusAbnormalClosure
}

// sameOrigin reports whether a request carrying an Origin header comes
// from a page of this listener (scheme aside, the Origin's host is the
// request's Host). Requests without Origin (not from a browser) pass: the
// check stops other sites' pages from reading the feed through a
// visitor's browser (RFC 6455 §10.2); the key, when configured, is what
// authenticates.
func sameOrigin(r *http.Request) bool {
	o := r.Header.Get("Origin")
	if o == "" {
		return true
	}
	u, err := url.Parse(o)
	return err == nil && u.Host == r.Host
}

func apiError(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"error": code, "message": msg})
}
