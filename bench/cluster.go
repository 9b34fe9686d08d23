package bench

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Cluster mode (Config.Cluster): the local c1m servers are nodes of one
// c1m cluster, joined through NATS, and every message is published once
// (through one node's API, or from one client's connection) instead of
// once per server. "embedded" gives each server its own nats-server with
// routes to all the others (route ports follow the API ports in the
// base-port range: server i of n routes on BasePort+3n+i) and the same
// --cluster-routes list; nats://… makes each a client of that NATS. The
// run starts only when every node's /readyz says ok (the backplane is
// ready).

// ClusterEmbedded is Config.Cluster for a cluster of embedded NATS
// servers, one per c1m server.
const ClusterEmbedded = "embedded"

// clusterReadyTimeout bounds the wait for every node's backplane: a
// JetStream cluster elects its meta leader and places the stream first,
// which takes longer with more nodes.
func clusterReadyTimeout(nodes int) time.Duration {
	return max(60*time.Second, time.Duration(nodes)*3*time.Second)
}

// wsRateLimit are the servers' flags when clients publish (PublishVia
// ws): the benchmark's publishing connections send thousands of messages
// a second each, far past a deployment's per-client rate limit.
var wsRateLimit = []string{"--rate-burst", "1000000", "--rate-refill", "1000000"}

// maxPublishers caps Config.Publishers.
const maxPublishers = 1024

// clustered reports whether the run is in cluster mode.
func (c *Config) clustered() bool { return c.Cluster != "" }

// checkCluster validates the cluster settings (after the defaults).
func (c *Config) checkCluster() error {
	switch {
	case c.PublishVia != PublishViaAPI && c.PublishVia != PublishViaWS:
		return fmt.Errorf("cannot publish via %q: want api or ws", c.PublishVia)
	case c.Publishers < 1 || c.Publishers > maxPublishers:
		return fmt.Errorf("cannot keep %d publish requests in flight: want 1 to %d", c.Publishers, maxPublishers)
	case !c.clustered() && c.PublishVia == PublishViaWS:
		return fmt.Errorf("cannot publish via ws without --cluster: a client's message reaches only its own server's members")
	case !c.clustered():
		return nil
	case c.Server != ServerC1M || c.Handler != "app":
		return fmt.Errorf("cannot run --cluster with the %s server (handler %s): only c1m's app handler joins a cluster", c.Server, c.Handler)
	case len(c.Targets) > 0:
		return fmt.Errorf("cannot run --cluster with --target: the orchestrator joins only the servers it starts")
	}
	if c.Cluster == ClusterEmbedded {
		return nil
	}
	for _, u := range strings.Split(c.Cluster, ",") {
		p, err := url.Parse(strings.TrimSpace(u))
		if err != nil || (p.Scheme != "nats" && p.Scheme != "tls") || p.Host == "" {
			return fmt.Errorf("cannot use --cluster %q: want embedded or nats://host:port[,...]", c.Cluster)
		}
	}
	return nil
}

// clusterMode says in words which backplane the run used, for the report.
func (c *Config) clusterMode() string {
	switch {
	case !c.clustered():
		return ""
	case c.Cluster == ClusterEmbedded:
		return fmt.Sprintf("embedded NATS cluster: %d c1m nodes, each running nats-server with routes to all the others", c.Servers)
	}
	return fmt.Sprintf("external NATS (%s): %d c1m nodes, each a client of it", c.Cluster, c.Servers)
}

// routePort is server i's NATS route port (embedded cluster mode).
func (c *Config) routePort(i int) int { return c.BasePort + 3*c.Servers + i }

// serverPorts is how many ports from BasePort the run's servers take:
// WebSocket, metrics and API for each, and in an embedded cluster each
// one's NATS route port after those. The memory control server takes
// the three after them (memory.go).
func (c *Config) serverPorts() int {
	n := 3 * c.Servers
	if c.Cluster == ClusterEmbedded {
		n += c.Servers
	}
	return n
}

// clusterArgs are server i's extra c1m serve flags in cluster mode (nil
// otherwise).
func clusterArgs(cfg *Config, i int) []string {
	if !cfg.clustered() {
		return nil
	}
	var args []string
	if cfg.Cluster == ClusterEmbedded {
		routes := make([]string, cfg.Servers)
		for j := range routes {
			routes[j] = "127.0.0.1:" + strconv.Itoa(cfg.routePort(j))
		}
		args = []string{"--cluster", "embedded:127.0.0.1:" + strconv.Itoa(cfg.routePort(i)),
			"--cluster-routes", strings.Join(routes, ",")}
	} else {
		args = []string{"--cluster", cfg.Cluster}
	}
	args = append(args, "--cluster-node", "bench-"+strconv.Itoa(i))
	if cfg.PublishVia == PublishViaWS {
		args = append(args, wsRateLimit...)
	}
	return args
}

// waitClusterReady waits until every server's /readyz answers ok: its
// backplane is connected and its stream in place.
func waitClusterReady(ctx context.Context, servers []*serverProc, timeout time.Duration, st *statusPrinter) error {
	defer st.done()
	start := time.Now()
	client := http.Client{Timeout: 5 * time.Second}
	for i, s := range servers {
		u := "http://127.0.0.1:" + strconv.Itoa(s.mport) + "/readyz"
		last := ""
		for {
			resp, err := client.Get(u)
			if err == nil {
				b, _ := io.ReadAll(io.LimitReader(resp.Body, 1024))
				resp.Body.Close()
				last = strings.TrimSpace(string(b))
				if resp.StatusCode == http.StatusOK && last == "ok" {
					break
				}
			} else {
				last = err.Error()
			}
			if ctx.Err() != nil {
				return ctx.Err()
			}
			if time.Since(start) > timeout {
				return fmt.Errorf("cannot form the cluster: node %d's /readyz still says %q after %v", i, last, timeout)
			}
			st.update("cluster: waiting for node %d of %d to be ready (%q), %.0f s", i+1, len(servers), last, time.Since(start).Seconds())
			time.Sleep(200 * time.Millisecond)
		}
	}
	return nil
}

// origins are the servers' WebSocket ports, which cluster-mode messages
// carry to name the node they were published through.
func origins(servers []*serverProc) []int {
	out := make([]int, len(servers))
	for i, s := range servers {
		out[i] = s.port
	}
	return out
}

// Backplane counters summed over the nodes (app/cluster.go's metrics).
const (
	metricClusterPublished = "c1m_cluster_published_total"
	metricClusterDelivered = "c1m_cluster_delivered_total"
	metricClusterFailed    = "c1m_cluster_publish_failures_total"
	metricClusterHoles     = "c1m_cluster_holes_total"
)

// Backplane is what the NATS backplane counted over a phase, summed over
// the nodes: Published messages went into the stream (each once: the
// phase's messages), Delivered came back to a node with members (at most
// Published × nodes).
type Backplane struct {
	Published int64 `json:"published"`
	Delivered int64 `json:"delivered"`
	Failed    int64 `json:"failed"`
	Holes     int64 `json:"holes"`
}

func backplaneDelta(before, after map[string]float64) *Backplane {
	d := func(k string) int64 { return int64(after[k] - before[k]) }
	return &Backplane{Published: d(metricClusterPublished), Delivered: d(metricClusterDelivered),
		Failed: d(metricClusterFailed), Holes: d(metricClusterHoles)}
}

// NodeCounters are one node's backplane counters at the end of a run.
type NodeCounters struct {
	Published int64 `json:"published"`
	Delivered int64 `json:"delivered"`
}

// nodeCounters scrapes every node's backplane counters.
func nodeCounters(servers []*serverProc) []NodeCounters {
	out := make([]NodeCounters, len(servers))
	for i, s := range servers {
		m := scrapeMetrics([]*serverProc{s})
		out[i] = NodeCounters{Published: int64(m[metricClusterPublished]), Delivered: int64(m[metricClusterDelivered])}
	}
	return out
}

// formCluster waits for every node's backplane and records how long the
// cluster took to form, from the servers' start.
func (r *runner) formCluster(ctx context.Context) error {
	if err := waitClusterReady(ctx, r.servers, clusterReadyTimeout(len(r.servers)), r.st); err != nil {
		return err
	}
	r.rep.ClusterReadySeconds = time.Since(r.serversStart).Seconds()
	r.logf("cluster: %s; every /readyz ok %.1f s after the servers started", r.cfg.clusterMode(), r.rep.ClusterReadySeconds)
	return nil
}

// publisherIndex is the global connection index that publishes to room r
// of size members (rooms of consecutive indices, total connections):
// member r mod size of the room, so that with rooms spread over the
// servers in turn, the publishers are too.
func publisherIndex(r, size, total int) int {
	base := r * size
	span := min(size, total-base)
	return base + r%span
}
