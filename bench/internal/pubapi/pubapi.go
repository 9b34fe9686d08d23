// Package pubapi is the HTTP surface that the benchmark's comparison
// servers (bench/baseline and bench/raw) share with `c1m serve`, as far as
// the orchestrator uses it, on one listener:
//
//	POST /v1/publish {"all":true,"data":<json>} → 202 {"seq":N}   (behind the API key)
//	GET  /livez                                  → 200 ok
//	GET  /metrics                                → Prometheus text
//	POST /debug/gc                               → 200 memory after a full collection (internal/debuggc)
//
// Rooms and users are refused with 400: these servers publish to everyone
// only. Errors are JSON objects {"error":code,"message":text}, as c1m's.
//
// Usage:
//
//	h := pubapi.Handler(pubapi.Config{
//		Name:    "baseline",
//		APIKey:  key,
//		Publish: func(data []byte) (uint64, error) { ... },
//		Metrics: func(w io.Writer) { ... },
//	})
//	srv := &http.Server{Handler: h}
package pubapi

import (
	"bytes"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"c1m/internal/debuggc"
)

// MaxBody caps a publish request body, as c1m's API does.
const MaxBody = 64 << 10

// Errors a Publish function returns to get a 503.
var (
	ErrClosing = errors.New("pubapi: the server is shutting down")
	ErrBusy    = errors.New("pubapi: too many publishes queued")
)

// Config is what Handler serves. Publish and Metrics must be safe for
// concurrent use: net/http calls them from one goroutine per request.
type Config struct {
	// Name is the server's name in error messages ("baseline").
	Name string
	// APIKey is the bearer key /v1/publish requires; "" leaves it open
	// (the caller allows that on loopback only).
	APIKey string
	// Publish sends data (valid JSON) to every connection and returns its
	// seq; ErrClosing or ErrBusy give 503.
	Publish func(data []byte) (uint64, error)
	// Metrics writes the Prometheus text of GET /metrics.
	Metrics func(w io.Writer)
}

// Handler returns the API's handler.
func Handler(cfg Config) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/publish", auth(cfg.APIKey, func(w http.ResponseWriter, r *http.Request) { publish(cfg, w, r) }))
	mux.HandleFunc("GET /livez", func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "ok\n")
	})
	mux.HandleFunc("GET /metrics", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; version=0.0.4")
		cfg.Metrics(w)
	})
	mux.HandleFunc("/debug/gc", debuggc.Handler(Error)) // as c1m serve --debug-gc; errors in this API's JSON
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		Error(w, http.StatusNotFound, "not_found", "no such endpoint: the "+cfg.Name+" serves POST /v1/publish, GET /livez, GET /metrics and POST /debug/gc")
	})
	return mux
}

// auth checks the bearer key in constant time (as c1m's API does).
func auth(key string, h http.HandlerFunc) http.HandlerFunc {
	if key == "" {
		return h
	}
	k := []byte(key)
	return func(w http.ResponseWriter, r *http.Request) {
		got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if !ok || subtle.ConstantTimeCompare([]byte(got), k) != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="c1m"`)
			Error(w, http.StatusUnauthorized, "unauthorized", "a valid API key is required (Authorization: Bearer <key>)")
			return
		}
		h(w, r)
	}
}

type publishRequest struct {
	Room string          `json:"room"`
	User string          `json:"user"`
	All  bool            `json:"all"`
	Data json.RawMessage `json:"data"`
}

// publish: POST /v1/publish {"all":true,"data":<json>} → 202 {"seq":N}.
func publish(cfg Config, w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBody))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			Error(w, http.StatusRequestEntityTooLarge, "too_large", fmt.Sprintf("the body is over %d bytes", MaxBody))
			return
		}
		Error(w, http.StatusBadRequest, "bad_request", "cannot read the body")
		return
	}
	var req publishRequest
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		Error(w, http.StatusBadRequest, "bad_json", "the body is not the expected JSON object: "+err.Error())
		return
	}
	switch {
	case req.Room != "":
		Error(w, http.StatusBadRequest, "bad_request", "rooms are not supported by the "+cfg.Name)
		return
	case req.User != "":
		Error(w, http.StatusBadRequest, "bad_request", "users are not supported by the "+cfg.Name)
		return
	case !req.All:
		Error(w, http.StatusBadRequest, "bad_request", `the `+cfg.Name+` publishes to everyone only: send "all": true`)
		return
	case len(req.Data) == 0:
		Error(w, http.StatusBadRequest, "bad_request", `"data" is required`)
		return
	}
	seq, err := cfg.Publish(req.Data)
	switch {
	case errors.Is(err, ErrBusy):
		Error(w, http.StatusServiceUnavailable, "busy", "too many publishes queued; retry later")
		return
	case err != nil:
		Error(w, http.StatusServiceUnavailable, "unavailable", "the server is shutting down")
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusAccepted)
	_ = json.NewEncoder(w).Encode(map[string]any{"seq": seq})
}

// Error writes {"error":code,"message":msg} with status.
func Error(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"error": code, "message": msg})
}
