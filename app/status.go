package app

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"

	"c1m/app/web"
	"c1m/server"
)

// startStatus creates the status page (package web) for the API's
// listener and registers its routes on mux: the page at /, /c1m.js,
// /v1/info and the live feed /v1/live. Shutdown stops it.
func (a *API) startStatus(mux *http.ServeMux) error {
	eng := a.app.eng
	auth := "jwt"
	if a.app.cfg.Engine.Auth == nil {
		auth = "none"
	}
	path := a.app.cfg.Engine.Path
	if path == "" {
		path = server.DefaultPath
	}
	node := statusNode(eng)
	var peers func() []web.Source
	if a.app.clu.cl != nil {
		node = a.app.cfg.Cluster.NodeName
		peers = a.app.peerSources
	}
	st, err := web.New(web.Config{
		Sources: []web.Source{{Node: node, Write: func(w io.Writer) error { eng.WriteMetrics(w); return nil }}},
		Peers:   peers,
		WSPort:  eng.Port(),
		WSPath:  path,
		Auth:    auth,
		Key:     a.cfg.Key,
		Logger:  a.app.log,
	})
	if err != nil {
		return fmt.Errorf("cannot start the status page: %w", err)
	}
	st.Register(mux)
	a.status = st
	return nil
}

// stopStatus closes the live feeds (net/http's Shutdown does not wait for
// upgraded connections) and stops sampling.
func (a *API) stopStatus() {
	if a.status != nil {
		a.status.Close()
	}
}

// statusNode names this node on the status page: the host name and the
// client listener's port.
func statusNode(eng *server.Server) string {
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "localhost"
	}
	return net.JoinHostPort(host, strconv.Itoa(eng.Port()))
}
