package app

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"c1m/app/web"
	"c1m/broadcast"
	"c1m/internal/netaddr"
	"c1m/wsproto"
)

// APIConfig configures the publish API. Zero fields take the defaults
// named beside them.
type APIConfig struct {
	// Addr is the listen address, DefaultAPIAddr; "-" turns the API off.
	Addr string
	// Key is the bearer token every request must carry. It may be empty
	// only when Addr is a loopback address: then anything on this host
	// may publish (the same trust as the metrics endpoint).
	Key string
	// MaxBody caps a request body, DefaultAPIMaxBody.
	MaxBody int64
	// MaxMembers caps the member list of GET /v1/rooms/{room},
	// DefaultAPIMaxMembers.
	MaxMembers int
}

// Defaults for APIConfig's zero fields.
const (
	DefaultAPIAddr       = "127.0.0.1:8081"
	DefaultAPIMaxBody    = 64 << 10
	DefaultAPIMaxMembers = 1000
)

// ErrAPIKeyRequired is returned by New for a non-loopback API address
// without a key.
var ErrAPIKeyRequired = errors.New("app: the publish API needs --api-key on a non-loopback address")

func (c APIConfig) withDefaults() (APIConfig, error) {
	if c.Addr == "" {
		c.Addr = DefaultAPIAddr
	}
	if c.MaxBody == 0 {
		c.MaxBody = DefaultAPIMaxBody
	}
	if c.MaxMembers == 0 {
		c.MaxMembers = DefaultAPIMaxMembers
	}
	if c.Addr != "-" && c.Key == "" && !netaddr.IsLoopback(c.Addr) {
		return c, ErrAPIKeyRequired
	}
	return c, nil
}

// API is the HTTP publish API (docs/protocol.md, "HTTP API"). It runs on
// net/http: operators and back ends, not clients. It belongs to its App,
// which starts and stops it.
type API struct {
	cfg APIConfig
	app *App
	srv *http.Server
	ln  net.Listener

	status *web.Status // the status page on this listener (status.go)
}

// startAPI listens and serves the API for a (cfg already defaulted).
func startAPI(cfg APIConfig, a *App) (*API, error) {
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return nil, fmt.Errorf("cannot listen on API address %s: %w", cfg.Addr, err)
	}
	api := &API{cfg: cfg, app: a, ln: ln}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/publish", api.auth(api.publish))
	mux.HandleFunc("POST /v1/disconnect", api.auth(api.disconnect))
	mux.HandleFunc("GET /v1/stats", api.auth(api.stats))
	mux.HandleFunc("GET /v1/rooms/{room}", api.auth(api.room))
	mux.HandleFunc("GET /v1/users/{id}", api.auth(api.user))
	if err := api.startStatus(mux); err != nil {
		_ = ln.Close()
		return nil, err
	}
	mux.HandleFunc("/", api.auth(func(w http.ResponseWriter, r *http.Request) {
		apiError(w, http.StatusNotFound, "not_found", "no such endpoint: see docs/protocol.md")
	}))
	api.srv = &http.Server{Handler: api.guard(mux), ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 30 * time.Second}
	go func() {
		if err := api.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			a.log.Error("publish API stopped", "err", err)
		}
	}()
	return api, nil
}

// Addr returns the address the API listens on.
func (a *API) Addr() string { return a.ln.Addr().String() }

// Shutdown stops the API.
func (a *API) Shutdown(ctx context.Context) error {
	a.stopStatus()
	return a.srv.Shutdown(ctx)
}

// auth checks the bearer key in constant time.
func (a *API) auth(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if a.cfg.Key != "" {
			got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
			if !ok || subtle.ConstantTimeCompare([]byte(got), []byte(a.cfg.Key)) != 1 {
				w.Header().Set("WWW-Authenticate", `Bearer realm="c1m"`)
				apiError(w, http.StatusUnauthorized, "unauthorized", "a valid API key is required (Authorization: Bearer <key>)")
				return
			}
		}
		h(w, r)
	}
}

func apiError(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"error": code, "message": msg})
}

func apiJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// readBody decodes a JSON body into v with the size cap; it answers the
// error itself and returns false.
func (a *API) readBody(w http.ResponseWriter, r *http.Request, v any) bool {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, a.cfg.MaxBody))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			apiError(w, http.StatusRequestEntityTooLarge, "too_large", fmt.Sprintf("the body is over %d bytes", a.cfg.MaxBody))
			return false
		}
		apiError(w, http.StatusBadRequest, "bad_request", "cannot read the body")
		return false
	}
	dec := json.NewDecoder(strings.NewReader(string(body)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		apiError(w, http.StatusBadRequest, "bad_json", "the body is not the expected JSON object: "+err.Error())
		return false
	}
	return true
}

type publishRequest struct {
	Room string          `json:"room"`
	User string          `json:"user"`
	All  bool            `json:"all"`
	From string          `json:"from"`
	Data json.RawMessage `json:"data"`
}

// publish: POST /v1/publish {"room"|"user"|"all", "data", "from"?}.
func (a *API) publish(w http.ResponseWriter, r *http.Request) {
	var req publishRequest
	if !a.readBody(w, r, &req) {
		return
	}
	var t broadcast.Target
	n := 0
	if req.Room != "" {
		t, n = broadcast.ToRoom(req.Room), n+1
	}
	if req.User != "" {
		t, n = broadcast.ToUser(req.User), n+1
	}
	if req.All {
		t, n = broadcast.ToAll(), n+1
	}
	if n != 1 {
		apiError(w, http.StatusBadRequest, "bad_request", `name exactly one target: "room", "user" or "all": true`)
		return
	}
	if len(req.Data) == 0 {
		apiError(w, http.StatusBadRequest, "bad_request", `"data" is required`)
		return
	}
	if len(req.Data) > a.app.cfg.MaxData {
		apiError(w, http.StatusRequestEntityTooLarge, "too_large", fmt.Sprintf("data is over %d bytes", a.app.cfg.MaxData))
		return
	}
	from := req.From
	if from == "" {
		from = "api"
	}
	if a.app.clu.cl != nil {
		a.publishCluster(w, r, t, from, req.Data)
		return
	}
	seq, err := a.app.hub.Publish(t, from, req.Data)
	switch {
	case errors.Is(err, broadcast.ErrBacklog):
		w.Header().Set("Retry-After", "1")
		apiError(w, http.StatusTooManyRequests, "overloaded", "the target's queue is full; retry later")
		return
	case errors.Is(err, broadcast.ErrDraining):
		apiError(w, http.StatusServiceUnavailable, "draining", "this node is shutting down; publish to another node")
		return
	case errors.Is(err, broadcast.ErrBadName):
		apiError(w, http.StatusBadRequest, "bad_request", "bad room or user name")
		return
	case err != nil:
		apiError(w, http.StatusServiceUnavailable, "unavailable", "cannot publish now")
		return
	}
	if seq == 0 {
		apiError(w, http.StatusNotFound, "no_target", "nobody is connected to that room or user")
		return
	}
	apiJSON(w, http.StatusAccepted, map[string]any{"seq": seq})
}

type disconnectRequest struct {
	User   string `json:"user"`
	Reason string `json:"reason"`
}

// disconnect: POST /v1/disconnect {"user", "reason"?} closes every device
// of the user with 1008.
func (a *API) disconnect(w http.ResponseWriter, r *http.Request) {
	var req disconnectRequest
	if !a.readBody(w, r, &req) {
		return
	}
	if req.User == "" {
		apiError(w, http.StatusBadRequest, "bad_request", `"user" is required`)
		return
	}
	reason := req.Reason
	if reason == "" {
		reason = "disconnected by the server"
	}
	devs := a.app.hub.Devices(req.User)
	for _, d := range devs {
		a.app.eng.Conn(d.FD, d.Gen).Close(wsproto.ClosePolicyViolation, reason)
	}
	apiJSON(w, http.StatusOK, map[string]any{"closed": len(devs)})
}

// stats: GET /v1/stats.
func (a *API) stats(w http.ResponseWriter, r *http.Request) {
	ss := a.app.eng.Stats()
	hs := a.app.hub.Stats()
	out := map[string]any{
		"connections": ss.Open, "sockets": ss.Sockets, "queued_bytes": ss.Queued,
		"rooms": hs.Rooms, "users": hs.Users, "published": hs.Published, "deliveries": hs.Deliveries,
		"dropped": hs.Dropped, "slow_closed": hs.SlowClosed, "backlog": hs.Backlog,
	}
	if cl := a.app.clu.cl; cl != nil {
		st, cs := cl.Status(), cl.Stats()
		out["cluster"] = map[string]any{
			"state": st.State.String(), "reason": st.Reason, "nodes": append(cl.Nodes(), "(this node)"),
			"published": cs.Published, "delivered": cs.Delivered, "holes": cs.Holes, "reordered": cs.Reordered, "late": cs.Late, "subscriptions": cs.Subscriptions,
		}
	}
	apiJSON(w, http.StatusOK, out)
}

// room: GET /v1/rooms/{room}[?members=true&limit=N]. With a cluster the
// count is every node's; the member list is this node's.
func (a *API) room(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("room")
	limit := 0
	if r.URL.Query().Get("members") == "true" {
		limit = a.cfg.MaxMembers
		if s := r.URL.Query().Get("limit"); s != "" {
			n, err := strconv.Atoi(s)
			if err != nil || n < 1 {
				apiError(w, http.StatusBadRequest, "bad_request", "limit must be a positive number")
				return
			}
			limit = min(n, a.cfg.MaxMembers)
		}
	}
	info, ok := a.app.hub.Room(name, limit)
	count := info.Count
	if cl := a.app.clu.cl; cl != nil {
		count = max(cl.RoomCount(name), info.Count)
	}
	if count == 0 {
		apiError(w, http.StatusNotFound, "not_found", "no such room (rooms exist while they have members)")
		return
	}
	out := map[string]any{"room": name, "count": count}
	if limit > 0 {
		members := make([]map[string]string, 0, len(info.Members))
		for _, m := range info.Members {
			members = append(members, map[string]string{"user": a.app.hub.UserOf(m), "conn": strconv.FormatUint(uint64(m.FD)<<32|uint64(m.Gen), 16)})
		}
		out["members"] = members
		out["truncated"] = ok && info.Count > len(info.Members)
		if a.app.clu.cl != nil {
			out["local"] = info.Count // the list is of this node's members
		}
	}
	apiJSON(w, http.StatusOK, out)
}

// user: GET /v1/users/{id}: whether the user is connected (on any node,
// with a cluster) and with how many devices.
func (a *API) user(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("id")
	devices := len(a.app.hub.Devices(name))
	if cl := a.app.clu.cl; cl != nil {
		_, n := cl.UserOnline(name)
		devices = max(devices, n)
	}
	apiJSON(w, http.StatusOK, map[string]any{"user": name, "online": devices > 0, "devices": devices})
}
