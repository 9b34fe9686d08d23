package web

import (
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Client is the browser client, c1m.js: the file a team may vendor, served
// at /c1m.js.
//
//go:embed c1m.js
var Client []byte

//go:embed static
var static embed.FS

// Config configures the status page. Zero fields take the defaults named.
type Config struct {
	// Sources are the nodes to show; at least one (the local server).
	Sources []Source
	// Peers, if set, returns a cluster's other nodes at each sample: they
	// are shown beside Sources, and counted in the totals, while it
	// returns them.
	Peers func() []Source
	// WSPort and WSPath locate the client WebSocket listener; the page
	// connects to ws://<the host it was loaded from>:WSPort WSPath.
	WSPort int
	WSPath string
	// Auth is the client listener's authentication, "none" or "jwt": the
	// demo asks for a user name or a token accordingly.
	Auth string
	// Key is the API key ("" when none is configured, which the API
	// allows on loopback only). With a key the live feed and the page's
	// API calls need it; the page asks for it.
	Key string
	// Interval is the sampling period, 1 s.
	Interval time.Duration
	// Keep is how many samples the charts keep, 300 (5 minutes at 1 s).
	Keep int
	// MaxViewers caps the live feeds open at once, 8; past it 429.
	MaxViewers int
	Logger     *slog.Logger
}

// Status is the status page: it samples the sources once per interval on
// its own goroutine and pushes the figures to the open live feeds. Create
// it with New, add its routes with Register, stop it with Close. Its
// methods are safe for concurrent use.
type Status struct {
	cfg  Config
	sm   *sampler
	feed *liveFeed
	stop chan struct{}
	done chan struct{}
}

// ErrNoSource is returned by New without a source.
var ErrNoSource = errors.New("web: the status page needs at least one metrics source")

// New validates cfg and starts sampling.
func New(cfg Config) (*Status, error) {
	if len(cfg.Sources) == 0 {
		return nil, ErrNoSource
	}
	if cfg.Auth != "none" && cfg.Auth != "jwt" {
		return nil, fmt.Errorf("cannot configure the status page: auth %q is not none or jwt", cfg.Auth)
	}
	if cfg.Interval <= 0 {
		cfg.Interval = time.Second
	}
	if cfg.Keep <= 0 {
		cfg.Keep = 300
	}
	if cfg.MaxViewers <= 0 {
		cfg.MaxViewers = 8
	}
	if cfg.WSPath == "" {
		cfg.WSPath = "/ws"
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	st := &Status{
		cfg:  cfg,
		sm:   newSampler(cfg.Sources, cfg.Peers, cfg.Interval, cfg.Keep),
		stop: make(chan struct{}),
		done: make(chan struct{}),
	}
	st.feed = newLiveFeed(cfg.MaxViewers, cfg.Key, cfg.Logger, st.sm.history)
	go st.run()
	return st, nil
}

// run samples once per interval until Close.
func (st *Status) run() {
	defer close(st.done)
	t := time.NewTicker(st.cfg.Interval)
	defer t.Stop()
	st.tick(time.Now())
	for {
		select {
		case now := <-t.C:
			st.tick(now)
		case <-st.stop:
			return
		}
	}
}

func (st *Status) tick(now time.Time) {
	fr := st.sm.sample(now)
	b, err := json.Marshal(fr)
	if err != nil {
		st.cfg.Logger.Error("status page: cannot encode figures", "err", err)
		return
	}
	st.feed.publish(b)
}

// Close stops sampling and closes every live feed with 1001, waiting for
// their handlers to return. Call it before shutting down the HTTP server
// (whose Shutdown does not wait for upgraded connections).
func (st *Status) Close() {
	select {
	case <-st.stop:
		return
	default:
	}
	close(st.stop)
	<-st.done
	st.feed.close()
}

// Viewers returns the live feeds open now.
func (st *Status) Viewers() int { return st.feed.count() }

// Register adds the page's routes to mux: GET / (the page), /c1m.js,
// /static/* (its script and style), /v1/info (what the page needs to
// know) and /v1/live (the feed). None of them needs the API key except
// the feed, which asks for it in its first message.
func (st *Status) Register(mux *http.ServeMux) {
	sub, _ := fs.Sub(static, "static")
	mux.HandleFunc("GET /{$}", st.asset(sub, "index.html", "text/html; charset=utf-8"))
	mux.HandleFunc("GET /static/status.js", st.asset(sub, "status.js", "text/javascript; charset=utf-8"))
	mux.HandleFunc("GET /static/status.css", st.asset(sub, "status.css", "text/css; charset=utf-8"))
	mux.HandleFunc("GET /c1m.js", func(w http.ResponseWriter, r *http.Request) {
		st.serve(w, Client, "text/javascript; charset=utf-8")
	})
	mux.HandleFunc("GET /v1/info", st.info)
	mux.HandleFunc("GET /v1/live", st.feed.handle)
}

func (st *Status) asset(fsys fs.FS, name, ctype string) http.HandlerFunc {
	b, err := fs.ReadFile(fsys, name)
	if err != nil {
		panic("web: missing embedded asset " + name) // a build error, not a runtime condition
	}
	return func(w http.ResponseWriter, r *http.Request) { st.serve(w, b, ctype) }
}

// serve writes an embedded file with headers that keep it to this origin.
func (st *Status) serve(w http.ResponseWriter, b []byte, ctype string) {
	h := w.Header()
	h.Set("Content-Type", ctype)
	h.Set("Content-Length", strconv.Itoa(len(b)))
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	// ws: and wss: because the client listener is another origin (port).
	h.Set("Content-Security-Policy", "default-src 'self'; connect-src 'self' ws: wss:; img-src 'self' data:; frame-ancestors 'none'")
	_, _ = w.Write(b)
}

// Info is the body of GET /v1/info.
type Info struct {
	// WSURL is the client listener's URL as seen from the page: the host
	// the page was loaded from, the listener's port and path.
	WSURL       string   `json:"ws_url"`
	Auth        string   `json:"auth"`         // "none" or "jwt"
	KeyRequired bool     `json:"key_required"` // the live feed and the API need the API key
	Nodes       []string `json:"nodes"`
	IntervalMs  int64    `json:"interval_ms"`
}

func (st *Status) info(w http.ResponseWriter, r *http.Request) {
	host := r.Host
	if h, _, err := net.SplitHostPort(r.Host); err == nil {
		host = h
	}
	host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
	scheme := "ws"
	if r.TLS != nil {
		scheme = "wss"
	}
	in := Info{
		WSURL:       scheme + "://" + net.JoinHostPort(host, strconv.Itoa(st.cfg.WSPort)) + st.cfg.WSPath,
		Auth:        st.cfg.Auth,
		KeyRequired: st.cfg.Key != "",
		IntervalMs:  st.cfg.Interval.Milliseconds(),
	}
	for _, s := range st.sm.current() {
		in.Nodes = append(in.Nodes, s.Node)
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	_ = json.NewEncoder(w).Encode(in)
}
