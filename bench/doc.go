// Package bench is the C1M benchmark: client workers on raw epoll that
// open and hold many WebSocket connections with masked client frames, and
// an orchestrator that starts `c1m serve` and worker processes, ramps,
// samples memory, and writes a report.
//
// The orchestrator runs three servers alike: c1m, the floor (bench/raw,
// the least a server can do for the scenarios) and the goroutine-per-
// connection baseline (bench/baseline); Config.Compare runs several in
// turn with the same workers and writes one report with their ratios to
// the floor (RunCompare). With Config.JWTSecret or JWTPrivateKey the
// workers send one token per connection (Minter) and the c1m servers
// verify them.
//
// One worker process holds up to its open-files limit minus a reserve; the
// orchestrator starts as many as the target needs. Source addresses are
// spread over a set of loopback addresses and source ports are chosen by
// the benchmark (bind before connect), because the kernel's ephemeral-port
// search slows to a crawl as the range fills.
//
// Remote load generators: `c1m bench agent --listen ADDR` (Agent) runs
// worker processes on another host for an orchestrator started with
// `--agents host:port,...` (Config.Agents) and the same key. The
// orchestrator spreads the connections evenly over the agents (and
// "local"), and drives each remote worker with the very lines it writes
// to a local one, over a TCP session the agent relays to the worker's
// stdin and stdout (agentproto.go); every worker, local or remote, is one
// worker value with a link. Each agent checks its room and its loadgen
// tuning for its share before any server starts, the orchestrator
// measures each agent's clock offset NTP-style (clock.go) and the
// workers subtract it from receive times; the report has per-agent
// figures, offsets and shortfalls. A worker lost mid-run (its agent
// died, it went silent) is reported and the run goes on without it.
//
//	# on each load-generator host
//	C1M_AGENT_KEY=... c1m bench agent --listen 10.0.0.2:7070
//	# on the server box
//	C1M_AGENT_KEY=... c1m bench --agents 10.0.0.2:7070,10.0.0.3:7070 \
//		--server-host 10.0.0.1 --conns 1000000
//
// Cluster mode (Config.Cluster, `--cluster embedded` or
// `--cluster nats://...`): the local c1m servers are nodes of one c1m
// cluster and every message is published once, through one node's API
// (Config.Publishers requests in flight) or from one member's connection
// (Config.PublishVia "ws"), instead of once per server. Each message names
// the node it went through, so the workers keep the cross-node latency
// apart; the report adds the backplane's counters per phase and per node
// (cluster.go, clusterphase.go).
//
//	c1m bench --cluster embedded --servers 3 --conns 3000 \
//		--scenario rooms --room-size 3 --publish-rate 5000
//
// Usage (what `c1m bench` does):
//
//	w, err := bench.NewWorker(bench.WorkerConfig{
//		Targets: []bench.Target{{Addr: "127.0.0.1:8080", Path: "/ws"}},
//		Conns:   19000,
//		Sources: bench.DefaultSources(),
//	})
//	if err != nil { ... }
//	go w.Run(ctx)
//	for p := range w.Progress() { ... }
package bench
