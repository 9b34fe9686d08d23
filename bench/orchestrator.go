package bench

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"c1m/sysctl"
)

// runner holds one run's processes.
type runner struct {
	ctx     context.Context
	cfg     *Config
	servers []*serverProc
	workers []*worker
	hosts   []*host // the load generators: local workers and agents
	// control is the server that holds no connection, read beside the
	// servers for their memory per connection (memory.go).
	control *serverProc
	rep     *Report
	st      *statusPrinter
	// serversStart is when the local servers were started.
	serversStart time.Time
	stage        string // what the run is doing, for reports of lost workers
}

// ErrWorkersLost: the run finished, but some worker processes were lost
// on the way (Report.Lost says which and when); the report covers the
// others. Run returns it as a *LostError.
var ErrWorkersLost = errors.New("bench: workers lost mid-run")

// LostError says which workers a finished run lost; errors.Is matches it
// to ErrWorkersLost.
type LostError struct {
	Lost    []string // one sentence per lost worker, as in Report.Lost
	Workers int      // worker processes the run started
}

func (e *LostError) Error() string {
	return fmt.Sprintf("lost %d of %d worker processes mid-run (%s); the report covers the others", len(e.Lost), e.Workers, e.Lost[0])
}

// Is makes errors.Is(err, ErrWorkersLost) true.
func (e *LostError) Is(target error) bool { return target == ErrWorkersLost }

// Run executes the benchmark and writes its report to cfg.Out. With
// cfg.Compare it runs each server of the list in turn and writes one
// comparison (see RunCompare); the returned Report is then the last run's.
func Run(ctx context.Context, cfg Config) (*Report, error) {
	if len(cfg.Compare) > 0 {
		c, err := RunCompare(ctx, cfg)
		if c == nil {
			return nil, err
		}
		return c.Runs[len(c.Runs)-1], err
	}
	rep, err := run(ctx, cfg)
	if rep == nil {
		return nil, err
	}
	if werr := rep.write(cfg.Out); werr != nil {
		return rep, werr
	}
	return rep, err
}

// run executes one benchmark run and returns its report, unwritten. When
// workers were lost mid-run it returns the report and an error wrapping
// ErrWorkersLost.
func run(ctx context.Context, cfg Config) (*Report, error) {
	if err := cfg.defaults(); err != nil {
		return nil, err
	}
	limit, err := sysctl.RaiseFileLimit()
	if err != nil {
		return nil, err
	}
	if err := cfg.plan(limit); err != nil {
		return nil, err
	}
	notes, err := Preflight(&cfg)
	if err != nil {
		return nil, err
	}
	minter, err := cfg.minter()
	if err != nil {
		return nil, err
	}
	r := &runner{ctx: ctx, cfg: &cfg, rep: newReport(cfg), st: newStatusPrinter(cfg.Progress, cfg.Terminal)}
	r.rep.Auth = "none"
	var pubKey string
	if minter != nil {
		r.rep.Auth = minter.Alg()
		if pubKey, err = writePublicKey(minter); err != nil {
			return nil, err
		}
		if pubKey != "" {
			defer os.RemoveAll(filepath.Dir(pubKey))
		}
	}
	r.rep.Preflight = notes
	for _, n := range notes {
		r.logf("preflight: %s", n)
	}

	var targets, publish []string
	for _, t := range cfg.Targets {
		targets = append(targets, t.String())
	}
	if len(cfg.Targets) == 0 {
		targets = serverTargets(&cfg)
	}
	// The agents first: a wrong key, an unreachable agent or one without
	// room for its share stops the run before any server starts.
	r.hosts = newHosts(&cfg)
	defer r.closeAgents()
	if err := r.connectAgents(ctx, targets); err != nil {
		return nil, err
	}
	if len(cfg.Targets) > 0 {
		publish = cfg.Publish
	} else {
		nofile := cfg.serverNoFile(limit)
		r.serversStart = time.Now()
		r.servers, err = startServers(ctx, &cfg, pubKey, nofile)
		defer stopServers(r.servers)
		if err != nil {
			return nil, err
		}
		defer r.stopControl()
		if err := r.startControl(ctx, pubKey); err != nil {
			return nil, err
		}
		r.rep.Memory = &Memory{NoFile: nofile, ControlNoFile: controlNoFile}
		for _, s := range r.servers {
			publish = append(publish, s.publishURL())
		}
		if cfg.clustered() {
			if err := r.formCluster(ctx); err != nil {
				return nil, err
			}
		}
		time.Sleep(time.Second) // let the servers finish starting up before the first reading
		if r.rep.Memory.Before, r.rep.Memory.ControlBefore, err = r.readMemory(); err != nil {
			return nil, err
		}
	}
	if r.rep.Before, err = sampleServers(r.servers); err != nil {
		return nil, err
	}
	mem0, err := ReadMemInfo()
	if err != nil {
		return nil, err
	}

	r.measureClocks("before the ramp")
	err = r.startWorkers(ctx, targets)
	defer func() { stopWorkers(r.workers) }()
	if err != nil {
		return nil, err
	}
	r.rep.Workers = len(r.workers)
	if err := r.waitReady(ctx); err != nil {
		return nil, err
	}
	if err := r.ramp(ctx); err != nil {
		return nil, err
	}
	if err := r.hold(ctx); err != nil {
		return nil, err
	}
	if r.rep.Memory != nil {
		if r.rep.Memory.After, r.rep.Memory.ControlAfter, err = r.readMemory(); err != nil {
			return nil, err
		}
		r.stopControl()
	}
	if r.rep.After, err = sampleServers(r.servers); err != nil {
		return nil, err
	}
	mem1, err := ReadMemInfo()
	if err != nil {
		return nil, err
	}
	total := sumProgress(r.workers)
	r.rep.Held = total.Open
	for _, h := range r.hosts {
		h.held = sumProgress(h.workers).Open
	}
	r.rep.finish(mem0, mem1, r.localSockets(r.rep.Held))
	r.logf("held %d of %d; server memory %.0f B/conn; kernel %.0f B/socket", r.rep.Held, cfg.Conns, r.rep.ServerBytesPerConn, r.rep.KernelBytesPerSocket)

	pub, flood := newPublisher(publish, cfg.APIKey, cfg.Size), newPublisher(publish, cfg.APIKey, slowSize)
	if cfg.clustered() {
		pub = newClusterPublisher(publish, origins(r.servers), cfg.APIKey, cfg.Size, cfg.Publishers)
		flood = newClusterPublisher(publish, origins(r.servers), cfg.APIKey, slowSize, cfg.Publishers)
	}
	for _, sc := range cfg.Scenarios {
		if ctx.Err() != nil {
			break
		}
		r.stage = "during the " + sc + " scenario"
		var res PhaseResult
		switch sc {
		case ScenarioIdle:
			continue
		case ScenarioBroadcast:
			res, err = r.broadcastPhase(ScenarioBroadcast, cfg.Broadcasts, cfg.Interval, pub)
		case ScenarioSlow:
			res, err = r.slowPhase(pub, flood)
		case ScenarioRooms:
			res, err = r.roomsPhase(pub)
		case ScenarioChurn:
			res, err = r.churnPhase(pub)
		}
		if err != nil {
			return nil, fmt.Errorf("cannot run the %s scenario: %w", sc, err)
		}
		r.logf("%s", res)
		r.rep.Phases = append(r.rep.Phases, res)
		if err := r.noteLost(); err != nil {
			return nil, err
		}
	}
	r.rep.ServerMetrics = scrapeMetrics(r.servers)
	if cfg.clustered() {
		r.rep.Nodes = nodeCounters(r.servers)
	}
	r.rep.ClosedByServer = sumProgress(r.workers).Closed
	if len(cfg.Agents) > 0 {
		r.rep.Agents = r.agentReports()
		r.rep.Clock = clockMethod
	}
	if len(r.rep.Lost) > 0 {
		return r.rep, &LostError{Lost: r.rep.Lost, Workers: len(r.workers)}
	}
	return r.rep, nil
}

// logf prints a line of the run's log (after ending a status line).
func (r *runner) logf(format string, args ...any) {
	r.st.done()
	if r.cfg.Progress != nil {
		fmt.Fprintf(r.cfg.Progress, format+"\n", args...)
	}
}

// waitReady waits until every worker has minted its tokens, then starts
// them all at once.
func (r *runner) waitReady(ctx context.Context) error {
	for ctx.Err() == nil {
		ready, minted := true, 0
		for _, w := range r.workers {
			p := w.progress()
			ready = ready && p.Ready
			minted += p.Minted
			r.rep.TokenMintSeconds = max(r.rep.TokenMintSeconds, p.MintSeconds)
		}
		if ready {
			break
		}
		if err := workersFailed(r.workers); err != nil {
			return err
		}
		if r.rep.Auth != "none" {
			r.st.update("minting %s tokens: %d of %d", r.rep.Auth, minted, r.cfg.Conns)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if r.rep.Auth != "none" {
		r.logf("minted %d %s tokens in %.2f s", r.cfg.Conns, r.rep.Auth, r.rep.TokenMintSeconds)
	}
	if _, err := doAll(r.workers, Command{Cmd: "start"}); err != nil {
		return err
	}
	// Lost at the start: the run stops, as for a worker that failed to
	// get ready.
	return workersFailed(r.workers)
}

// writePublicKey writes the public key of an RS256 or ES256 Minter to a
// file of a new temporary directory, for the c1m servers'
// --jwt-public-key, and returns its path ("" for HS256). The caller
// removes the directory.
func writePublicKey(m *Minter) (string, error) {
	b, err := m.PublicKeyPEM()
	if errors.Is(err, errNoPublicKey) {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	dir, err := os.MkdirTemp("", "c1m-bench-jwt-")
	if err != nil {
		return "", fmt.Errorf("cannot write the JWT public key: %w", err)
	}
	path := filepath.Join(dir, "public.pem")
	if err := os.WriteFile(path, b, 0o644); err != nil {
		os.RemoveAll(dir)
		return "", fmt.Errorf("cannot write the JWT public key: %w", err)
	}
	return path, nil
}

// ramp waits until every worker has opened or given up on its
// connections, sampling memory against connections.
func (r *runner) ramp(ctx context.Context) error {
	r.stage = "during the ramp"
	start := time.Now()
	p := newProgressPrinter(r.cfg.Progress, r.cfg.Terminal)
	var total Progress
	for {
		time.Sleep(250 * time.Millisecond)
		total = sumProgress(r.workers)
		rss := sumRSS(r.servers)
		r.rep.addSample(time.Since(start), total.Open, rss)
		p.print(total, r.cfg.Conns, rss, time.Since(start))
		r.rampHosts(time.Since(start).Seconds())
		if err := r.noteLost(); err != nil {
			p.done()
			return err
		}
		if allDone(r.workers) {
			break
		}
		if time.Since(start) > r.cfg.RampTimeout || ctx.Err() != nil {
			break
		}
	}
	p.done()
	r.rep.Ramp = time.Since(start)
	r.endRamp(r.rep.Ramp.Seconds())
	r.rep.Opened = total.Open
	r.rep.Failed = total.Failed
	r.rep.Retries = total.Retries
	return nil
}

// hold keeps the connections idle for Hold, sampling, and shows it.
func (r *runner) hold(ctx context.Context) error {
	r.stage = "during the hold"
	defer r.st.done()
	start := time.Now()
	end := start.Add(r.cfg.Hold)
	cpu0 := sumCPU(r.servers)
	defer func() {
		if d := time.Since(start).Seconds(); d > 0 {
			r.rep.HoldServerCPU = (sumCPU(r.servers) - cpu0) / d
		}
	}()
	for time.Now().Before(end) && ctx.Err() == nil {
		time.Sleep(min(time.Until(end), time.Second))
		t := sumProgress(r.workers)
		rss := sumRSS(r.servers)
		r.rep.addSample(r.rep.Ramp+time.Since(start), t.Open, rss)
		r.st.update("hold: %.0f of %.0f s, %d open, %d closed by the server, server RSS %.0f MiB",
			time.Since(start).Seconds(), r.cfg.Hold.Seconds(), t.Open, t.Closed, float64(rss)/(1<<20))
		if err := r.noteLost(); err != nil {
			return err
		}
	}
	return r.noteLost()
}
