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
