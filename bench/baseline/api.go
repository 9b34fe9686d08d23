package baseline

import (
	"bytes"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/VictoriaMetrics/metrics"

	"c1m/broadcast"
)

// maxBody caps a publish request body, as c1m's API does.
const maxBody = 64 << 10

// apiHandler serves the endpoints the benchmark uses on a c1m server, on
// one listener: /v1/publish (behind the API key), /livez and /metrics
// (open, like c1m's metrics listener).
func (s *Server) apiHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/publish", s.auth(s.handlePublish))
	mux.HandleFunc("GET /livez", func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "ok\n")
	})
	mux.HandleFunc("GET /metrics", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; version=0.0.4")
		s.WriteMetrics(w)
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		apiError(w, http.StatusNotFound, "not_found", "no such endpoint: the baseline serves POST /v1/publish, GET /livez and GET /metrics")
	})
	return mux
}

// auth checks the bearer key in constant time (as server/api.go does).
func (s *Server) auth(h http.HandlerFunc) http.HandlerFunc {
	if s.cfg.APIKey == "" {
		return h
	}
	key := []byte(s.cfg.APIKey)
	return func(w http.ResponseWriter, r *http.Request) {
		got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if !ok || subtle.ConstantTimeCompare([]byte(got), key) != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="c1m"`)
			apiError(w, http.StatusUnauthorized, "unauthorized", "a valid API key is required (Authorization: Bearer <key>)")
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

// handlePublish: POST /v1/publish {"all":true,"data":<json>} → 202 {"seq":N}.
func (s *Server) handlePublish(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			apiError(w, http.StatusRequestEntityTooLarge, "too_large", fmt.Sprintf("the body is over %d bytes", maxBody))
			return
		}
		apiError(w, http.StatusBadRequest, "bad_request", "cannot read the body")
		return
	}
	var req publishRequest
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		apiError(w, http.StatusBadRequest, "bad_json", "the body is not the expected JSON object: "+err.Error())
		return
	}
	switch {
	case req.Room != "":
		apiError(w, http.StatusBadRequest, "bad_request", "rooms are not supported by the baseline")
		return
	case req.User != "":
		apiError(w, http.StatusBadRequest, "bad_request", "users are not supported by the baseline")
		return
	case !req.All:
		apiError(w, http.StatusBadRequest, "bad_request", `the baseline publishes to everyone only: send "all": true`)
		return
	case len(req.Data) == 0:
		apiError(w, http.StatusBadRequest, "bad_request", `"data" is required`)
		return
	}
	seq, ok := s.publish(req.Data)
	if !ok {
		apiError(w, http.StatusServiceUnavailable, "unavailable", "the server is shutting down")
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusAccepted)
	_ = json.NewEncoder(w).Encode(map[string]any{"seq": seq})
}

// publish frames data once and queues the same frame to every upgraded
// connection without blocking; a connection whose queue is full is closed
// as a slow consumer. It reports false when the server is shutting down.
func (s *Server) publish(data []byte) (uint64, bool) {
	s.pubMu.Lock()
	defer s.pubMu.Unlock()
	s.mu.RLock()
	if s.closing {
		s.mu.RUnlock()
		return 0, false
	}
	s.seq++
	// Framed once, in exactly the shape c1m sends, so that the workers
	// parse both servers the same way.
	f := broadcast.EncodeMessage(broadcast.ToAll(), "api", s.seq, time.Now().UnixMilli(), data)
	slow := s.slowBuf[:0]
	for c := range s.conns {
		if c.upgraded.Load() && !c.enqueue(&f) {
			slow = append(slow, c)
		}
	}
	s.mu.RUnlock()
	// Closing takes s.mu, so it waits until the fan-out has let go of it.
	for _, c := range slow {
		c.closeSlow()
	}
	clear(slow)
	s.slowBuf = slow[:0]
	s.published.Inc()
	return s.seq, true
}

// WriteMetrics writes c1m_connections, the baseline's counters and the
// process and Go runtime metrics in Prometheus text format.
func (s *Server) WriteMetrics(w io.Writer) {
	s.set.WritePrometheus(w)
	metrics.WriteProcessMetrics(w)
}

func apiError(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"error": code, "message": msg})
}
