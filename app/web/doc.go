// Package web is c1m's status page and browser client.
//
// The status page is served by the publish API's listener: GET / is a page
// built into the binary (no CDN, works offline), /c1m.js the browser client
// (the file c1m.js of this package, which a team may vendor as it is), and
// /v1/live a WebSocket that pushes the server's figures once a second. The
// figures are computed from the server's own Prometheus exposition (parsed
// once per interval, rates from counter deltas, quantiles from histogram
// buckets), so the page shows what an operator's Prometheus sees. Frames
// carry every node's figures and their total, so that a cluster's nodes
// can be added as more Sources.
//
// Usage, with s a started *server.Server and mux the API's *http.ServeMux:
//
//	st, err := web.New(web.Config{
//		Sources: []web.Source{{Node: "node-1", Write: func(w io.Writer) error { s.WriteMetrics(w); return nil }}},
//		WSPort:  s.Port(), WSPath: "/ws", Auth: "none",
//	})
//	if err != nil {
//		return err
//	}
//	st.Register(mux)
//	defer st.Close() // before the HTTP server's Shutdown
//
// A Status samples once per interval whether or not a page is open, so
// that a page opens with the last minutes drawn; a sample of one node
// costs about 0.1 ms (BenchmarkSample) plus the exposition itself.
//
// Concurrency: a Status samples on one goroutine of its own; each open
// live feed holds the net/http goroutine of its request plus a reader
// goroutine, and at most Config.MaxViewers are open at once.
package web
