package bench

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// serverProc is one local server child process: `c1m serve`, the floor
// (`c1m bench raw-serve`) or the goroutine-per-connection baseline.
type serverProc struct {
	cmd                  *exec.Cmd
	port, mport, apiPort int
}

func (s *serverProc) publishURL() string {
	return "http://127.0.0.1:" + strconv.Itoa(s.apiPort) + "/v1/publish"
}

func (s *serverProc) metricsURL() string {
	return "http://127.0.0.1:" + strconv.Itoa(s.mport) + "/metrics"
}

// jwtEnv carries an HS256 secret to the child processes (never on their
// command line, which any user of the box can read): C1M_JWT_SECRET is
// what c1m serve reads for --jwt-secret, benchJWTSecretEnv what a worker
// reads.
const benchJWTSecretEnv = "C1M_BENCH_JWT_SECRET"

// serverAuthArgs are a c1m server's authentication flags and environment
// for the run: --auth=none, or the verification key matching the
// workers' tokens (pubKey: the public key file for RS256/ES256).
func serverAuthArgs(cfg *Config, pubKey string) (args, env []string) {
	switch {
	case cfg.JWTSecret != "":
		return []string{"--auth", "jwt"}, []string{"C1M_JWT_SECRET=" + cfg.JWTSecret}
	case cfg.JWTPrivateKey != "":
		return []string{"--auth", "jwt", "--jwt-public-key", pubKey}, nil
	}
	return []string{"--auth", "none"}, nil
}

// startServers starts cfg.Servers local servers; pubKey is the JWT public
// key file for c1m servers when the tokens are RS256 or ES256.
func startServers(ctx context.Context, cfg *Config, pubKey string) ([]*serverProc, error) {
	var out []*serverProc
	n := cfg.Servers
	for i := 0; i < n; i++ {
		s := &serverProc{port: cfg.BasePort + i, mport: cfg.BasePort + n + i, apiPort: cfg.BasePort + 2*n + i}
		var args []string
		switch cfg.Server {
		case ServerBaseline:
			// The baseline serves its metrics and API on one listener.
			s.mport = s.apiPort
			args = []string{"bench", "baseline-serve",
				"--addr", "127.0.0.1:" + strconv.Itoa(s.port),
				"--api-addr", "127.0.0.1:" + strconv.Itoa(s.apiPort),
				"--log-level", "error"}
		case ServerRaw:
			// So does the floor; it gets c1m's pending cap and send
			// buffer, so that the slow scenario treats both alike.
			s.mport = s.apiPort
			args = []string{"bench", "raw-serve",
				"--addr", "127.0.0.1:" + strconv.Itoa(s.port),
				"--api-addr", "127.0.0.1:" + strconv.Itoa(s.apiPort),
				"--max-pending", strconv.Itoa(benchMaxPending), "--sndbuf", "16384",
				"--log-level", "error"}
		default:
			args = []string{"serve",
				"--addr", "127.0.0.1:" + strconv.Itoa(s.port),
				"--metrics-addr", "127.0.0.1:" + strconv.Itoa(s.mport),
				"--api-addr", "127.0.0.1:" + strconv.Itoa(s.apiPort),
				"--handler", cfg.Handler, "--log-level", "error",
				// A 64 KiB pending cap: far above what a reader that
				// keeps up ever has queued in these scenarios, small
				// enough that the slow scenario's clients pass it fast.
				"--max-pending", strconv.Itoa(benchMaxPending),
				// A 16 KiB send buffer (the kernel doubles it): with
				// autotuning a client that stops reading absorbs
				// megabytes in the kernel before the server notices.
				"--sndbuf", "16384",
				"--drain-rate", "1000000", "--drain-timeout", "10s"}
			if cfg.PingInterval > 0 {
				args = append(args, "--ping-interval", cfg.PingInterval.String())
			}
			args = append(args, clusterArgs(cfg, i)...)
			args = append(args, cfg.ServeArgs...)
		}
		var env []string
		if cfg.Server == ServerC1M {
			var auth []string
			auth, env = serverAuthArgs(cfg, pubKey)
			args = append(args, auth...)
		}
		s.cmd = exec.CommandContext(ctx, cfg.Exe, args...)
		s.cmd.Env = childEnv(cfg, env...)
		s.cmd.Stderr = os.Stderr
		if err := s.cmd.Start(); err != nil {
			return out, fmt.Errorf("cannot start server %d: %w", i, err)
		}
		out = append(out, s)
	}
	for i, s := range out {
		if err := waitLive(ctx, s.mport, 30*time.Second); err != nil {
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
		case <-time.After(30 * time.Second):
			_ = s.cmd.Process.Kill()
			<-done
		}
	}
}

// worker is one `c1m bench worker` child process: commands go to its
// stdin, progress and dumps come back as JSON lines on its stdout.
type worker struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
	dumps chan Dump
	mu    sync.Mutex
	last  Progress
	err   error
}

func (w *worker) progress() Progress {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.last
}

// line is a worker's output line: a Progress or a Dump, by Type.
type line struct {
	Type string `json:"type"`
}

func (w *worker) readOutput(r io.Reader) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 64<<20) // dumps carry histograms
	for sc.Scan() {
		var l line
		if json.Unmarshal(sc.Bytes(), &l) != nil {
			continue
		}
		switch l.Type {
		case "progress":
			var p Progress
			if json.Unmarshal(sc.Bytes(), &p) == nil {
				w.mu.Lock()
				w.last = p
				w.mu.Unlock()
			}
		case "dump":
			var d Dump
			if json.Unmarshal(sc.Bytes(), &d) == nil {
				w.dumps <- d
			}
		}
	}
	err := w.cmd.Wait()
	w.mu.Lock()
	if err != nil && !w.last.Done {
		w.err = err
	}
	w.mu.Unlock()
	close(w.dumps)
}

// do sends cmd and waits for the worker's reply.
func (w *worker) do(cmd Command) (Dump, error) {
	b, _ := json.Marshal(cmd)
	if _, err := w.stdin.Write(append(b, '\n')); err != nil {
		return Dump{}, fmt.Errorf("cannot command worker: %w", err)
	}
	select {
	case d, ok := <-w.dumps:
		if !ok {
			return Dump{}, fmt.Errorf("cannot command worker: it exited")
		}
		return d, nil
	case <-time.After(60 * time.Second):
		return Dump{}, fmt.Errorf("cannot command worker: no answer to %q in 60s", cmd.Cmd)
	}
}

// doAll runs cmd on every worker at once and returns their replies.
func doAll(ws []*worker, cmd Command) ([]Dump, error) {
	out := make([]Dump, len(ws))
	errs := make([]error, len(ws))
	var wg sync.WaitGroup
	for i, w := range ws {
		wg.Add(1)
		go func() {
			defer wg.Done()
			out[i], errs[i] = w.do(cmd)
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}

func startWorkers(ctx context.Context, cfg *Config, targets []string) ([]*worker, error) {
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
			"--total", strconv.Itoa(cfg.Conns), "--probes", strconv.Itoa(cfg.Probes),
			"--targets", strings.Join(rotate(targets, i), ","), "--sources", formatSources(cfg.Sources)}
		if cfg.Rate > 0 {
			args = append(args, "--rate", strconv.Itoa(max(cfg.Rate/cfg.Workers, 1)))
		}
		// Keep about 16,384 attempts in flight over all workers: enough
		// to fill every accept queue, few enough that a queue never
		// overflows into SYN retransmissions.
		args = append(args, "--in-flight", strconv.Itoa(max(16384/cfg.Workers, 64)), "--retries", "10")
		if cfg.has(ScenarioSlow) {
			args = append(args, "--slow-fraction", strconv.FormatFloat(cfg.SlowFraction, 'g', -1, 64))
		}
		// Every worker mints its tokens, then waits for "start": the ramp
		// is timed from the moment all of them are ready.
		args = append(args, "--wait-start")
		var env []string
		switch {
		case cfg.JWTSecret != "":
			env = []string{benchJWTSecretEnv + "=" + cfg.JWTSecret}
		case cfg.JWTPrivateKey != "":
			args = append(args, "--jwt-private-key", cfg.JWTPrivateKey)
		}
		first += n
		w := &worker{cmd: exec.CommandContext(ctx, cfg.Exe, args...), dumps: make(chan Dump, 1)}
		w.cmd.Env = childEnv(cfg, env...)
		w.cmd.Cancel = func() error { return w.cmd.Process.Signal(syscall.SIGTERM) }
		w.cmd.WaitDelay = 20 * time.Second
		w.cmd.Stderr = os.Stderr
		stdout, err := w.cmd.StdoutPipe()
		if err != nil {
			return out, err
		}
		if w.stdin, err = w.cmd.StdinPipe(); err != nil {
			return out, err
		}
		if err := w.cmd.Start(); err != nil {
			return out, fmt.Errorf("cannot start worker %d: %w", i, err)
		}
		go w.readOutput(stdout)
		out = append(out, w)
	}
	return out, nil
}

// stopWorkers asks every worker to close its connections and exit.
func stopWorkers(ws []*worker) {
	for _, w := range ws {
		_ = w.cmd.Process.Signal(syscall.SIGTERM)
	}
	for _, w := range ws {
		for range w.dumps {
		}
	}
}

// rotate starts the target list at offset i so that workers begin on
// different servers.
func rotate(s []string, i int) []string {
	i %= len(s)
	return append(append([]string(nil), s[i:]...), s[:i]...)
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
		if p.LastErr != "" {
			t.LastErr = p.LastErr
		}
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

// childEnv is the environment of the servers and workers. When there are
// more processes than cores, each gets GOMAXPROCS=1 (unless the caller set
// GOMAXPROCS): with two cores and a hundred processes, Go schedulers that
// spin looking for work cost more than a second P gains. Measured at
// 200,000 connections over 11+11 processes: ramp 22,000/s against 16,800/s,
// probe RTT p99 66 ms against 323 ms, broadcasts unchanged.
//
// JWT settings of the orchestrator's own environment (C1M_JWT_*, a
// developer's shell) are left out, so that only the run's own (extra)
// reach the children: c1m serve would read them as flags.
func childEnv(cfg *Config, extra ...string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "C1M_JWT_") && !strings.HasPrefix(kv, benchJWTSecretEnv+"=") {
			env = append(env, kv)
		}
	}
	env = append(env, extra...)
	if _, set := os.LookupEnv("GOMAXPROCS"); set || cfg.Servers+cfg.Workers <= runtime.NumCPU() {
		return env
	}
	return append(env, "GOMAXPROCS=1")
}
