package bench

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"c1m/sysctl"
)

// runner holds one run's processes.
type runner struct {
	cfg     *Config
	servers []*serverProc
	workers []*worker
	rep     *Report
}

// Run executes the benchmark and writes its report to cfg.Out.
func Run(ctx context.Context, cfg Config) (*Report, error) {
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
	r := &runner{cfg: &cfg, rep: newReport(cfg)}
	r.rep.Preflight = notes
	for _, n := range notes {
		r.logf("preflight: %s", n)
	}

	var targets, publish []string
	if len(cfg.Targets) > 0 {
		for _, t := range cfg.Targets {
			targets = append(targets, t.String())
		}
		publish = cfg.Publish
	} else {
		r.servers, err = startServers(ctx, &cfg)
		defer stopServers(r.servers)
		if err != nil {
			return nil, err
		}
		for _, s := range r.servers {
			targets = append(targets, "ws://127.0.0.1:"+strconv.Itoa(s.port)+"/ws")
			publish = append(publish, s.publishURL())
		}
		time.Sleep(time.Second) // let the servers' heaps settle before the baseline
	}
	if r.rep.Before, err = sampleServers(r.servers); err != nil {
		return nil, err
	}
	mem0, err := ReadMemInfo()
	if err != nil {
		return nil, err
	}

	r.workers, err = startWorkers(ctx, &cfg, targets)
	defer stopWorkers(r.workers)
	if err != nil {
		return nil, err
	}
	if err := r.ramp(ctx); err != nil {
		return nil, err
	}
	r.hold(ctx)
	if r.rep.After, err = sampleServers(r.servers); err != nil {
		return nil, err
	}
	mem1, err := ReadMemInfo()
	if err != nil {
		return nil, err
	}
	total := sumProgress(r.workers)
	r.rep.Held = total.Open
	r.rep.finish(mem0, mem1)
	r.logf("held %d of %d; server user-space %.0f B/conn; kernel %.0f B/socket", r.rep.Held, cfg.Conns, r.rep.ServerBytesPerConn, r.rep.KernelBytesPerSocket)

	pub := newPublisher(publish, cfg.APIKey, cfg.Size)
	for _, sc := range cfg.Scenarios {
		if ctx.Err() != nil {
			break
		}
		var res PhaseResult
		switch sc {
		case ScenarioIdle:
			continue
		case ScenarioBroadcast:
			res, err = r.broadcastPhase(ScenarioBroadcast, cfg.Broadcasts, cfg.Interval, pub)
		case ScenarioSlow:
			res, err = r.slowPhase(pub, newPublisher(publish, cfg.APIKey, slowSize))
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
	}
	r.rep.ServerMetrics = scrapeMetrics(r.servers)
	r.rep.ClosedByServer = sumProgress(r.workers).Closed
	if err := r.rep.write(cfg.Out); err != nil {
		return r.rep, err
	}
	return r.rep, nil
}

func (r *runner) logf(format string, args ...any) {
	if r.cfg.Progress != nil {
		fmt.Fprintf(r.cfg.Progress, format+"\n", args...)
	}
}

// ramp waits until every worker has opened or given up on its
// connections, sampling memory against connections.
func (r *runner) ramp(ctx context.Context) error {
	start := time.Now()
	p := newProgressPrinter(r.cfg.Progress, r.cfg.Terminal)
	var total Progress
	for {
		time.Sleep(250 * time.Millisecond)
		total = sumProgress(r.workers)
		rss := sumRSS(r.servers)
		r.rep.addSample(time.Since(start), total.Open, rss)
		p.print(total, r.cfg.Conns, rss, time.Since(start))
		if allDone(r.workers) {
			break
		}
		if err := workersFailed(r.workers); err != nil {
			return err
		}
		if time.Since(start) > r.cfg.RampTimeout || ctx.Err() != nil {
			break
		}
	}
	p.done()
	r.rep.Ramp = time.Since(start)
	r.rep.Opened = total.Open
	r.rep.Failed = total.Failed
	r.rep.Retries = total.Retries
	return nil
}

// hold keeps the connections idle for Hold, sampling.
func (r *runner) hold(ctx context.Context) {
	end := time.Now().Add(r.cfg.Hold)
	for time.Now().Before(end) && ctx.Err() == nil {
		time.Sleep(min(time.Until(end), time.Second))
		t := sumProgress(r.workers)
		r.rep.addSample(r.rep.Ramp+time.Since(end.Add(-r.cfg.Hold)), t.Open, sumRSS(r.servers))
	}
}
