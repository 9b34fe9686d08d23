package bench

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Config configures a benchmark run (`c1m bench`).
type Config struct {
	Scenario string        // "idle"
	Conns    int           // connections to open and hold
	Servers  int           // local server processes; 0: as the open-files limit requires
	Workers  int           // client worker processes; 0: as the open-files limit requires
	Hold     time.Duration // how long to hold at full count
	Rate     int           // connects per second over all workers; 0: no cap
	Sources  []netip.Addr  // source addresses; nil: DefaultSources
	BasePort int           // first local server port (metrics ports follow)
	Out      string        // report directory
	Exe      string        // the c1m binary to run servers and workers with
	Command  string        // the command line, for the report
	// RampTimeout bounds the ramp; connections not open by then count as
	// failed.
	RampTimeout time.Duration
	Progress    io.Writer // live progress; nil: none
	Terminal    bool      // Progress is a terminal: redraw one line
}

// serverProc is one local `c1m serve` child process.
type serverProc struct {
	cmd         *exec.Cmd
	port, mport int
}

// worker is one `c1m bench worker` child process and its last report.
type worker struct {
	cmd  *exec.Cmd
	mu   sync.Mutex
	last Progress
	err  error
}

func (w *worker) progress() Progress {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.last
}

// perProcessConns is how many connections one process may hold under the
// open-files limit, keeping FD room for the process itself.
func perProcessConns(limit uint64) int {
	return int(limit) - 256
}

// plan fills in Servers and Workers from the open-files limit.
func (c *Config) plan(limit uint64) error {
	per := perProcessConns(limit)
	if per < 1 {
		return fmt.Errorf("cannot plan the run: the open-files limit %d leaves no room for connections", limit)
	}
	need := (c.Conns + per - 1) / per
	if c.Servers == 0 {
		c.Servers = need
	}
	if c.Workers == 0 {
		c.Workers = need
	}
	if (c.Conns+c.Servers-1)/c.Servers > per {
		return fmt.Errorf("cannot hold %d connections on %d servers: each may hold %d under the open-files limit %d; use --servers %d or more", c.Conns, c.Servers, per, limit, need)
	}
	if (c.Conns+c.Workers-1)/c.Workers > per {
		return fmt.Errorf("cannot open %d connections from %d workers: each may hold %d under the open-files limit %d; use --workers %d or more", c.Conns, c.Workers, per, limit, need)
	}
	return nil
}

// Run executes the benchmark and writes its report.
func Run(ctx context.Context, cfg Config) (*Report, error) {
	limit, err := fileLimit()
	if err != nil {
		return nil, err
	}
	if err := cfg.plan(limit); err != nil {
		return nil, err
	}
	if cfg.Sources == nil {
		cfg.Sources = DefaultSources()
	}
	if cfg.BasePort == 0 {
		cfg.BasePort = 18080
	}
	if cfg.RampTimeout == 0 {
		cfg.RampTimeout = 10 * time.Minute
	}
	if err := preflightMemory(cfg.Conns); err != nil {
		return nil, err
	}
	rep := newReport(cfg)

	servers, err := startServers(ctx, cfg)
	defer stopServers(servers)
	if err != nil {
		return nil, err
	}
	time.Sleep(time.Second) // let the servers' heaps settle before the baseline
	base, err := sampleServers(servers)
	if err != nil {
		return nil, err
	}
	mem0, err := ReadMemInfo()
	if err != nil {
		return nil, err
	}
	rep.Before = base

	wctx, stopWorkers := context.WithCancel(ctx)
	workers, err := startWorkers(wctx, cfg, servers)
	defer func() {
		stopWorkers()
		waitWorkers(workers)
	}()
	if err != nil {
		return nil, err
	}

	// Ramp.
	rampStart := time.Now()
	p := newProgressPrinter(cfg.Progress, cfg.Terminal)
	var total Progress
	for {
		time.Sleep(250 * time.Millisecond)
		total = sumProgress(workers)
		rss := sumRSS(servers)
		rep.addSample(time.Since(rampStart), total.Open, rss)
		p.print(total, cfg.Conns, rss, time.Since(rampStart))
		if allDone(workers) {
			break
		}
		if err := workersFailed(workers); err != nil {
			return nil, err
		}
		if time.Since(rampStart) > cfg.RampTimeout || ctx.Err() != nil {
			break
		}
	}
	rep.Ramp = time.Since(rampStart)
	rep.Opened = total.Open
	rep.Failed = total.Failed
	rep.Retries = total.Retries
	p.done()

	// Hold.
	holdEnd := time.Now().Add(cfg.Hold)
	for time.Now().Before(holdEnd) && ctx.Err() == nil {
		time.Sleep(min(time.Until(holdEnd), time.Second))
		total = sumProgress(workers)
		rep.addSample(time.Since(rampStart), total.Open, sumRSS(servers))
	}
	after, err := sampleServers(servers)
	if err != nil {
		return nil, err
	}
	mem1, err := ReadMemInfo()
	if err != nil {
		return nil, err
	}
	total = sumProgress(workers)
	rep.Held = total.Open
	rep.ClosedByServer = total.Closed
	rep.After = after
	rep.finish(mem0, mem1)
	if err := rep.write(cfg.Out); err != nil {
		return rep, err
	}
	return rep, nil
}

// preflightMemory refuses a run that cannot fit in this box's memory.
func preflightMemory(conns int) error {
	m, err := ReadMemInfo()
	if err != nil {
		return err
	}
	// Both ends of every connection live on this box: two kernel sockets
	// (~4.8 KB each, measured) and two user-space states (≤ 256 B each
	// budgeted; the worker's is larger), plus a fixed margin.
	need := int64(conns)*2*(4800+1024) + 512<<20
	if need > m.Available {
		return fmt.Errorf("cannot run %d connections: they need about %d MiB and %d MiB are available; lower --conns", conns, need>>20, m.Available>>20)
	}
	return nil
}

func startServers(ctx context.Context, cfg Config) ([]*serverProc, error) {
	var out []*serverProc
	for i := 0; i < cfg.Servers; i++ {
		s := &serverProc{port: cfg.BasePort + i, mport: cfg.BasePort + cfg.Servers + i}
		per := (cfg.Conns+cfg.Servers-1)/cfg.Servers + 16
		s.cmd = exec.CommandContext(ctx, cfg.Exe, "serve",
			"--addr", "127.0.0.1:"+strconv.Itoa(s.port),
			"--metrics-addr", "127.0.0.1:"+strconv.Itoa(s.mport),
			"--handler", "discard", "--auth", "none", "--log-level", "error",
			"--max-conns", strconv.Itoa(per),
			"--drain-rate", "1000000", "--drain-timeout", "10s")
		s.cmd.Stderr = os.Stderr
		if err := s.cmd.Start(); err != nil {
			return out, fmt.Errorf("cannot start server %d: %w", i, err)
		}
		out = append(out, s)
	}
	for i, s := range out {
		if err := waitLive(ctx, s.mport, 15*time.Second); err != nil {
			return out, fmt.Errorf("cannot start server %d on port %d: %w", i, s.port, err)
		}
	}
	return out, nil
}

func waitLive(ctx context.Context, port int, d time.Duration) error {
	url := "http://127.0.0.1:" + strconv.Itoa(port) + "/livez"
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		resp, err := http.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return nil
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("no answer on %s within %v", url, d)
}

// stopServers drains every server (SIGTERM) and waits for it to exit.
func stopServers(servers []*serverProc) {
	for _, s := range servers {
		_ = s.cmd.Process.Signal(syscall.SIGTERM)
	}
	for _, s := range servers {
		done := make(chan struct{})
		go func() { _ = s.cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			_ = s.cmd.Process.Kill()
			<-done
		}
	}
}

func startWorkers(ctx context.Context, cfg Config, servers []*serverProc) ([]*worker, error) {
	var targets []string
	for _, s := range servers {
		targets = append(targets, "ws://127.0.0.1:"+strconv.Itoa(s.port)+"/ws")
	}
	var out []*worker
	first := 0
	for i := 0; i < cfg.Workers; i++ {
		n := cfg.Conns / cfg.Workers
		if i < cfg.Conns%cfg.Workers {
			n++
		}
		// Each worker spreads its connections over every server, so the
		// servers fill evenly whatever the worker count.
		args := []string{"bench", "worker", "--conns", strconv.Itoa(n), "--first", strconv.Itoa(first),
			"--targets", strings.Join(rotate(targets, i), ","), "--sources", formatSources(cfg.Sources)}
		if cfg.Rate > 0 {
			args = append(args, "--rate", strconv.Itoa(max(cfg.Rate/cfg.Workers, 1)))
		}
		first += n
		w := &worker{cmd: exec.CommandContext(ctx, cfg.Exe, args...)}
		w.cmd.Cancel = func() error { return w.cmd.Process.Signal(syscall.SIGTERM) }
		w.cmd.WaitDelay = 15 * time.Second
		w.cmd.Stderr = os.Stderr
		stdout, err := w.cmd.StdoutPipe()
		if err != nil {
			return out, err
		}
		if err := w.cmd.Start(); err != nil {
			return out, fmt.Errorf("cannot start worker %d: %w", i, err)
		}
		go w.readProgress(stdout)
		out = append(out, w)
	}
	return out, nil
}

// rotate starts the target list at offset i so that workers begin on
// different servers.
func rotate(s []string, i int) []string {
	i %= len(s)
	return append(append([]string(nil), s[i:]...), s[:i]...)
}

func (w *worker) readProgress(r io.Reader) {
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		var p Progress
		if err := json.Unmarshal(sc.Bytes(), &p); err != nil {
			continue
		}
		w.mu.Lock()
		w.last = p
		w.mu.Unlock()
	}
	err := w.cmd.Wait()
	w.mu.Lock()
	if err != nil && !w.last.Done {
		w.err = err
	}
	w.mu.Unlock()
}

func waitWorkers(ws []*worker) {
	for _, w := range ws {
		for i := 0; i < 200 && w.cmd.ProcessState == nil; i++ {
			time.Sleep(50 * time.Millisecond)
		}
	}
}

func sumProgress(ws []*worker) Progress {
	var t Progress
	for _, w := range ws {
		p := w.progress()
		t.Open += p.Open
		t.Pending += p.Pending
		t.Failed += p.Failed
		t.Retries += p.Retries
		t.Closed += p.Closed
		t.Messages += p.Messages
		t.Pings += p.Pings
	}
	return t
}

func allDone(ws []*worker) bool {
	for _, w := range ws {
		if !w.progress().Done {
			return false
		}
	}
	return true
}

func workersFailed(ws []*worker) error {
	for i, w := range ws {
		w.mu.Lock()
		err := w.err
		w.mu.Unlock()
		if err != nil {
			return fmt.Errorf("worker %d stopped: %w", i, err)
		}
	}
	return nil
}

// ServerSample is one server process's resources at one moment.
type ServerSample struct {
	PID        int     `json:"pid"`
	RSS        int64   `json:"rss_bytes"`
	CPUSeconds float64 `json:"cpu_seconds"`
}

func sampleServers(servers []*serverProc) ([]ServerSample, error) {
	var out []ServerSample
	for _, s := range servers {
		pid := s.cmd.Process.Pid
		rss, err := ProcRSS(pid)
		if err != nil {
			return nil, err
		}
		cpu, err := ProcCPUSeconds(pid)
		if err != nil {
			return nil, err
		}
		out = append(out, ServerSample{PID: pid, RSS: rss, CPUSeconds: cpu})
	}
	return out, nil
}

func sumRSS(servers []*serverProc) int64 {
	var t int64
	for _, s := range servers {
		if v, err := ProcRSS(s.cmd.Process.Pid); err == nil {
			t += v
		}
	}
	return t
}

func formatSources(s []netip.Addr) string {
	parts := make([]string, len(s))
	for i, a := range s {
		parts[i] = a.String()
	}
	return strings.Join(parts, ",")
}
