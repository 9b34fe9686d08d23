package app

import (
	"mime"
	"net"
	"net/http"
	"net/url"

	"c1m/internal/netaddr"
)

// guard wraps the API's handler with the checks that do not depend on the
// endpoint:
//
//   - a POST must carry Content-Type: application/json (415 otherwise): a
//     browser sends a cross-site form or a "simple" fetch only with a form
//     or text type, never this one without a CORS preflight;
//   - without a key (the API then listens on loopback only), the request's
//     Host must be a loopback name or address (421 otherwise), so a page
//     that rebinds its DNS name to 127.0.0.1 cannot reach the API through
//     the browser, and a request carrying an Origin must come from a page
//     of this listener itself (403 otherwise): the status page it serves
//     may call it, other sites may not.
//
// With a key, the bearer key authenticates every endpoint instead.
func (a *API) guard(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost {
			mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
			if err != nil || mt != "application/json" {
				apiError(w, http.StatusUnsupportedMediaType, "unsupported_media_type", "send the body as Content-Type: application/json")
				return
			}
		}
		if a.cfg.Key == "" {
			if !loopbackHost(r.Host) {
				apiError(w, http.StatusMisdirectedRequest, "bad_host", "the API without a key answers only requests to a loopback host (localhost, 127.0.0.1, [::1])")
				return
			}
			if o := r.Header.Get("Origin"); o != "" {
				if u, err := url.Parse(o); err != nil || u.Host != r.Host {
					apiError(w, http.StatusForbidden, "cross_origin", "the API without a key answers no page of another origin")
					return
				}
			}
		}
		h.ServeHTTP(w, r)
	})
}

// loopbackHost reports whether a Host header names this host only:
// localhost or a loopback address, with or without a port.
func loopbackHost(host string) bool {
	if h, p, err := net.SplitHostPort(host); err == nil {
		return netaddr.IsLoopback(net.JoinHostPort(h, p))
	}
	return netaddr.IsLoopback(net.JoinHostPort(host, "0"))
}
