package bench

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"time"
)

// agentProc is one worker process an agent runs for a session. done is
// closed once it has exited and been waited for.
type agentProc struct {
	cmd      *exec.Cmd
	stdin    io.WriteCloser
	stdout   io.Reader
	stderr   *tailWriter
	done     chan struct{}
	stopOnce sync.Once
}

// stop asks the worker to close its connections and exit (SIGTERM), and
// kills it if it has not within agentStopTimeout. Safe to call more than
// once and from any goroutine.
func (p *agentProc) stop() {
	p.stopOnce.Do(func() {
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
		go func() {
			select {
			case <-p.done:
			case <-time.After(agentStopTimeout):
				_ = p.cmd.Process.Kill()
			}
		}()
	})
}

// runWorker starts the worker of spec and relays the session to it: the
// orchestrator's lines to its stdin, its stdout to the orchestrator. When
// the orchestrator half-closes the session or goes away, the worker is
// stopped; when the worker has exited, an "exit" line with its status and
// last error ends the session.
func (a *Agent) runWorker(c net.Conn, r *bufio.Reader, keys sessionKeys, spec *WorkerSpec) {
	p, err := a.startWorker(keys, spec)
	if err != nil {
		_ = writeMsg(c, agentMsg{Type: "error", Error: err.Error()})
		return
	}
	defer a.forget(p)
	a.logf("worker %d started for %s: %d connections", p.cmd.Process.Pid, c.RemoteAddr(), spec.Conns)
	if err := writeMsg(c, agentMsg{Type: "started"}); err != nil {
		p.stop()
	}
	stdin, stdout, tail := p.stdin, p.stdout, p.stderr
	go func() {
		_, _ = io.Copy(stdin, r)
		stdin.Close()
		p.stop()
	}()
	if _, err := io.Copy(c, stdout); err != nil {
		// The orchestrator is gone: keep draining so that the worker
		// never blocks on a full pipe while it closes its connections.
		p.stop()
		_, _ = io.Copy(io.Discard, stdout)
	}
	werr := p.cmd.Wait()
	close(p.done)
	code := 0
	var ee *exec.ExitError
	if errors.As(werr, &ee) {
		code = ee.ExitCode()
	}
	last := tail.lastLine()
	if code != 0 {
		a.logf("worker %d exited with status %d: %s", p.cmd.Process.Pid, code, last)
	} else {
		a.logf("worker %d exited", p.cmd.Process.Pid)
	}
	_ = writeMsg(c, agentMsg{Type: "exit", Code: code, Error: last})
}

// startWorker checks spec and starts its worker process, with stdin and
// stdout pipes and a tailWriter as stderr.
func (a *Agent) startWorker(keys sessionKeys, spec *WorkerSpec) (*agentProc, error) {
	if spec == nil {
		return nil, errors.New("cannot start a worker: no spec")
	}
	if err := spec.validate(); err != nil {
		return nil, err
	}
	first, _ := ParseTarget(spec.Targets[0])
	sources, err := a.sources(first)
	if err != nil {
		return nil, err
	}
	lo, hi := portsAround(a.port)
	args := append([]string{"bench", "worker"}, spec.args(formatSources(sources), fmt.Sprintf("%d-%d", lo, hi))...)
	if a.cfg.ClockSkew != 0 {
		args = append(args, "--clock-skew", a.cfg.ClockSkew.String())
	}
	env := agentChildEnv(spec.HostWorkers)
	var keyDir string
	if spec.JWT != nil {
		secret, err := keys.open(spec.JWT)
		if err != nil {
			return nil, err
		}
		switch spec.JWT.Kind {
		case "secret":
			env = append(env, benchJWTSecretEnv+"="+string(secret))
		case "pem":
			if keyDir, err = os.MkdirTemp("", "c1m-agent-jwt-"); err != nil {
				return nil, fmt.Errorf("cannot store the JWT key: %w", err)
			}
			path := filepath.Join(keyDir, "key.pem")
			if err := os.WriteFile(path, secret, 0o600); err != nil {
				os.RemoveAll(keyDir)
				return nil, fmt.Errorf("cannot store the JWT key: %w", err)
			}
			args = append(args, "--jwt-private-key", path)
		default:
			return nil, fmt.Errorf("cannot use a JWT key of kind %q", spec.JWT.Kind)
		}
	}
	cmd := exec.Command(a.cfg.Exe, args...)
	cmd.Env = env
	cmd.SysProcAttr = workerProcAttr()
	p := &agentProc{cmd: cmd, stderr: &tailWriter{max: 2048, copy: a.cfg.Log}, done: make(chan struct{})}
	cmd.Stderr = p.stderr
	p.stdin, err = cmd.StdinPipe()
	if err == nil {
		p.stdout, err = cmd.StdoutPipe()
	}
	if err != nil {
		if keyDir != "" {
			os.RemoveAll(keyDir)
		}
		return nil, fmt.Errorf("cannot start a worker: %w", err)
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	switch {
	case a.closing:
		err = errors.New("the agent is stopping")
	case len(a.procs) >= a.cfg.MaxWorkers:
		err = fmt.Errorf("the agent runs its most worker processes (%d) already", a.cfg.MaxWorkers)
	default:
		err = cmd.Start()
	}
	if keyDir != "" {
		// The worker reads the key as it starts; no need to keep it.
		// Remove it once the process has exited, or now on failure.
		if err != nil {
			os.RemoveAll(keyDir)
		} else {
			go func() { <-p.done; os.RemoveAll(keyDir) }()
		}
	}
	if err != nil {
		return nil, fmt.Errorf("cannot start a worker: %w", err)
	}
	a.procs[p] = struct{}{}
	return p, nil
}

func (a *Agent) forget(p *agentProc) {
	a.mu.Lock()
	delete(a.procs, p)
	a.mu.Unlock()
}

// agentChildEnv is a worker's environment on an agent: the agent's own
// without its key or any JWT setting, and GOMAXPROCS=1 when the host runs
// more workers than it has cores (see childEnv).
func agentChildEnv(hostWorkers int) []string {
	var env []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "C1M_JWT_") || strings.HasPrefix(kv, benchJWTSecretEnv+"=") || strings.HasPrefix(kv, AgentKeyEnv+"=") {
			continue
		}
		env = append(env, kv)
	}
	if _, set := os.LookupEnv("GOMAXPROCS"); !set && hostWorkers > runtime.NumCPU() {
		env = append(env, "GOMAXPROCS=1")
	}
	return env
}

// AgentKeyEnv is the environment variable that holds the agent key, for
// `c1m bench agent` and for the orchestrator (--agent-key wins over it).
const AgentKeyEnv = "C1M_AGENT_KEY"

// tailWriter keeps the last max bytes written to it and copies everything
// to copy (if not nil). Written by one goroutine (exec's stderr copier),
// read after cmd.Wait.
type tailWriter struct {
	max  int
	buf  []byte
	copy io.Writer
}

func (t *tailWriter) Write(p []byte) (int, error) {
	if t.copy != nil {
		_, _ = t.copy.Write(p)
	}
	t.buf = append(t.buf, p...)
	if over := len(t.buf) - t.max; over > 0 {
		t.buf = append(t.buf[:0], t.buf[over:]...)
	}
	return len(p), nil
}

// lastLine is the last non-empty line written.
func (t *tailWriter) lastLine() string {
	lines := bytes.Split(bytes.TrimSpace(t.buf), []byte("\n"))
	return string(bytes.TrimSpace(lines[len(lines)-1]))
}
