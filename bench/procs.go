package bench

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
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

// serverTargets are the WebSocket URLs of the local servers startServers
// starts: on cfg.ServerHost, ports from cfg.BasePort.
func serverTargets(cfg *Config) []string {
	var out []string
	for i := 0; i < cfg.Servers; i++ {
		out = append(out, "ws://"+cfg.ServerHost+":"+strconv.Itoa(cfg.BasePort+i)+"/ws")
	}
	return out
}

// startServers starts cfg.Servers local servers (their WebSocket
// listeners on cfg.ServerHost, the rest on 127.0.0.1), each under an
// open-files limit of nofile, soft and hard; pubKey is the JWT public
// key file for c1m servers when the tokens are RS256 or ES256.
func startServers(ctx context.Context, cfg *Config, pubKey string, nofile int) ([]*serverProc, error) {
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
				"--addr", cfg.ServerHost + ":" + strconv.Itoa(s.port),
				"--api-addr", "127.0.0.1:" + strconv.Itoa(s.apiPort),
				"--log-level", "error"}
		case ServerRaw:
			// So does the floor; it gets c1m's pending cap and send
			// buffer, so that the slow scenario treats both alike.
			s.mport = s.apiPort
			args = []string{"bench", "raw-serve",
				"--addr", cfg.ServerHost + ":" + strconv.Itoa(s.port),
				"--api-addr", "127.0.0.1:" + strconv.Itoa(s.apiPort),
				"--max-pending", strconv.Itoa(benchMaxPending), "--sndbuf", "16384",
				"--log-level", "error"}
		default:
			args = []string{"serve",
				"--addr", cfg.ServerHost + ":" + strconv.Itoa(s.port),
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
				"--drain-rate", "1000000", "--drain-timeout", "10s",
				// POST /debug/gc, for the memory per connection (memory.go).
				"--debug-gc"}
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
		s.cmd = limitedCommand(ctx, nofile, cfg.Exe, args...)
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

// limitedCommand runs exe with args under an open-files limit of nofile,
// soft and hard, through /bin/sh's ulimit and exec: the server is the
// process started (same PID), and its own raise of the soft limit to the
// hard one (sysctl.RaiseFileLimit) stays at nofile. Go's os/exec cannot
// set a child's resource limits, and prlimit(2) after the start would
// race with the server reading its limit to size its fd-indexed tables.
func limitedCommand(ctx context.Context, nofile int, exe string, args ...string) *exec.Cmd {
	sh := append([]string{"-c", `ulimit -n "$0" && exec "$@"`, strconv.Itoa(nofile), exe}, args...)
	return exec.CommandContext(ctx, "/bin/sh", sh...)
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

// worker is one `c1m bench worker` process, local or on an agent, as
// the orchestrator drives it: commands go to it as JSON lines, progress
// and dumps come back as JSON lines, over its link (a pipe pair to a local
// child, or an agent session that relays the same lines). Its methods are
// safe from any goroutine.
type worker struct {
	host  *host
	name  string // "local worker 1", "agent 10.0.0.2:34001 worker 2"
	link  workerLink
	dumps chan Dump
	mu    sync.Mutex
	last  Progress
	// err says why the worker ended or stopped answering before it was
	// asked to stop; nil while it runs. Such a worker is lost: it takes
	// no more commands and counts no more.
	err      error
	stopping bool
	reported bool      // the runner has logged its loss
	exit     *agentMsg // an agent's exit line, if one came
}

// workerLink carries one worker's lines. send and kill may be called from
// any goroutine; output is read by readOutput alone, which calls wait
// once the output has ended.
type workerLink interface {
	send(line []byte) error
	output() io.Reader
	// stop asks the worker to close its connections and exit.
	stop()
	// kill ends it (or the session to it) at once.
	kill()
	// wait reports how it ended: its exit line (agents) and the error
	// that ended the output, if any.
	wait(exit *agentMsg, readErr error) error
}

func (w *worker) progress() Progress {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.last
}

// failed is why the worker was lost, nil while it runs.
func (w *worker) failed() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.err
}

// fail records err as why the worker was lost (unless it already was, or
// was being stopped), ends its link and returns the recorded error.
func (w *worker) fail(err error) error {
	w.mu.Lock()
	if w.err == nil && !w.stopping {
		w.err = err
	}
	err = w.err
	w.mu.Unlock()
	w.link.kill()
	if err == nil {
		err = errors.New("it was stopped")
	}
	return err
}

// line is a worker's output line: a Progress, a Dump or an agent's exit
// line, by Type.
type line struct {
	Type string `json:"type"`
}

func (w *worker) readOutput() {
	sc := bufio.NewScanner(w.link.output())
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
				// Only a command waits for a dump; one that comes after
				// its command gave up is dropped.
				select {
				case w.dumps <- d:
				default:
				}
			}
		case "exit":
			var m agentMsg
			if json.Unmarshal(sc.Bytes(), &m) == nil {
				w.mu.Lock()
				w.exit = &m
				w.mu.Unlock()
			}
		}
	}
	w.mu.Lock()
	exit := w.exit
	w.mu.Unlock()
	err := w.link.wait(exit, sc.Err())
	w.mu.Lock()
	if w.err == nil && !w.stopping {
		if err == nil {
			err = errors.New("it exited")
		}
		w.err = err
	}
	w.mu.Unlock()
	close(w.dumps)
}

// commandTimeout bounds the wait for a worker's answer to one command.
const commandTimeout = 60 * time.Second

// do sends cmd and waits for the worker's reply. A worker that cannot
// take it or does not answer within commandTimeout is lost.
func (w *worker) do(cmd Command) (Dump, error) {
	if err := w.failed(); err != nil {
		return Dump{}, err
	}
	b, _ := json.Marshal(cmd)
	if err := w.link.send(append(b, '\n')); err != nil {
		return Dump{}, w.fail(fmt.Errorf("cannot send it %q: %w", cmd.Cmd, err))
	}
	t := time.NewTimer(commandTimeout)
	defer t.Stop()
	select {
	case d, ok := <-w.dumps:
		if !ok {
			return Dump{}, w.fail(errors.New("it exited"))
		}
		return d, nil
	case <-t.C:
		return Dump{}, w.fail(fmt.Errorf("no answer to %q in %v", cmd.Cmd, commandTimeout))
	}
}

// reply is one worker's answer to a command.
type reply struct {
	w *worker
	d Dump
}

// doAll runs cmd on every live worker of ws at once and returns the
// answers. A worker that does not answer is lost (the runner reports it)
// and left out; the error is for when no worker answered.
func doAll(ws []*worker, cmd Command) ([]reply, error) {
	live := liveWorkers(ws)
	out := make([]reply, len(live))
	errs := make([]error, len(live))
	var wg sync.WaitGroup
	for i, w := range live {
		wg.Add(1)
		go func() {
			defer wg.Done()
			out[i].w = w
			out[i].d, errs[i] = w.do(cmd)
		}()
	}
	wg.Wait()
	var got []reply
	var first error
	for i := range live {
		if errs[i] == nil {
			got = append(got, out[i])
		} else if first == nil {
			first = fmt.Errorf("%s: %w", live[i].name, errs[i])
		}
	}
	if len(got) == 0 {
		if first == nil {
			first = errNoWorkers
		}
		return nil, fmt.Errorf("cannot run %q: no worker answered: %w", cmd.Cmd, first)
	}
	return got, nil
}

// errNoWorkers: every worker of the run was lost.
var errNoWorkers = errors.New("bench: every worker was lost")

// liveWorkers are the workers of ws not lost.
func liveWorkers(ws []*worker) []*worker {
	var out []*worker
	for _, w := range ws {
		if w.failed() == nil {
			out = append(out, w)
		}
	}
	return out
}

// localLink is a local worker child process and its pipes.
type localLink struct {
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	stdout io.Reader
}

func (l *localLink) send(b []byte) error { _, err := l.stdin.Write(b); return err }
func (l *localLink) output() io.Reader   { return l.stdout }
func (l *localLink) stop()               { _ = l.cmd.Process.Signal(syscall.SIGTERM) }
func (l *localLink) kill()               { _ = l.cmd.Process.Kill() }
func (l *localLink) wait(*agentMsg, error) error {
	return l.cmd.Wait()
}

// startLocalWorker starts one local worker process for spec.
func startLocalWorker(ctx context.Context, cfg *Config, spec WorkerSpec) (*localLink, error) {
	args := append([]string{"bench", "worker"}, spec.args(formatSources(cfg.Sources), "")...)
	var env []string
	switch {
	case cfg.JWTSecret != "":
		env = []string{benchJWTSecretEnv + "=" + cfg.JWTSecret}
	case cfg.JWTPrivateKey != "":
		args = append(args, "--jwt-private-key", cfg.JWTPrivateKey)
	}
	l := &localLink{cmd: exec.CommandContext(ctx, cfg.Exe, args...)}
	l.cmd.Env = childEnv(cfg, env...)
	l.cmd.Cancel = func() error { return l.cmd.Process.Signal(syscall.SIGTERM) }
	l.cmd.WaitDelay = 20 * time.Second
	l.cmd.Stderr = os.Stderr
	var err error
	if l.stdout, err = l.cmd.StdoutPipe(); err != nil {
		return nil, err
	}
	if l.stdin, err = l.cmd.StdinPipe(); err != nil {
		return nil, err
	}
	if err := l.cmd.Start(); err != nil {
		return nil, err
	}
	return l, nil
}

// stopWorkers asks every worker to close its connections and exit, and
// waits for each (a lost one is ended at once), at most stopTimeout.
func stopWorkers(ws []*worker) {
	for _, w := range ws {
		w.mu.Lock()
		w.stopping = true
		lost := w.err != nil
		w.mu.Unlock()
		if lost {
			w.link.kill()
		} else {
			w.link.stop()
		}
	}
	deadline := time.After(stopTimeout)
	for _, w := range ws {
		for done := false; !done; {
			select {
			case _, ok := <-w.dumps:
				done = !ok
			case <-deadline:
				w.link.kill()
				deadline = nil // wait for the rest, now killed
			}
		}
	}
}

// stopTimeout bounds stopWorkers before it kills: a worker closes its
// connections in seconds.
const stopTimeout = 30 * time.Second

// rotate starts the target list at offset i so that workers begin on
// different servers.
func rotate(s []string, i int) []string {
	i %= len(s)
	return append(append([]string(nil), s[i:]...), s[:i]...)
}

// sumProgress adds up the live workers' progress.
func sumProgress(ws []*worker) Progress {
	var t Progress
	for _, w := range liveWorkers(ws) {
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

// allDone reports whether every live worker has opened or given up on
// every connection.
func allDone(ws []*worker) bool {
	for _, w := range liveWorkers(ws) {
		if !w.progress().Done {
			return false
		}
	}
	return true
}

// workersFailed is the first lost worker's error, nil if none.
func workersFailed(ws []*worker) error {
	for _, w := range ws {
		if err := w.failed(); err != nil {
			return fmt.Errorf("%s stopped: %w", w.name, err)
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
// developer's shell) and the agent key are left out, so that only the run's own (extra)
// reach the children: c1m serve would read them as flags.
func childEnv(cfg *Config, extra ...string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "C1M_JWT_") && !strings.HasPrefix(kv, benchJWTSecretEnv+"=") && !strings.HasPrefix(kv, AgentKeyEnv+"=") {
			env = append(env, kv)
		}
	}
	env = append(env, extra...)
	if _, set := os.LookupEnv("GOMAXPROCS"); set || cfg.Servers+cfg.Workers <= runtime.NumCPU() {
		return env
	}
	return append(env, "GOMAXPROCS=1")
}
