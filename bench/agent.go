package bench

import (
	"bufio"
	"context"
	"crypto/hmac"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"runtime"
	"strings"
	"sync"
	"time"

	"c1m/sysctl"
)

// AgentConfig configures a load-generator agent (`c1m bench agent`). The
// zero value of every field but Listen and Exe has a meaning.
type AgentConfig struct {
	// Listen is the TCP address orchestrators connect to, host:port.
	Listen string
	// Key authenticates the orchestrator to the agent and the agent to
	// the orchestrator (agentproto.go), at least MinAgentKey bytes. It
	// may be empty only on a loopback address.
	Key []byte
	// Exe is the c1m binary the worker processes run.
	Exe string
	// Sources are the local addresses the workers bind. Nil: the address
	// the kernel picks toward the first target (one address, up to about
	// 25,000-50,000 connections; give more for a larger share).
	Sources []netip.Addr
	// MaxWorkers bounds the worker processes running at once (0:
	// DefaultAgentMaxWorkers): with its open-files limit, the most
	// connections the agent takes.
	MaxWorkers int
	// ClockSkew is a test aid: the agent and its workers act as if this
	// host's clock were off by that much, so that a test can check that
	// the orchestrator measures and removes an offset it knows.
	ClockSkew time.Duration
	// Log gets one line per session that fails and per worker that
	// starts or ends, and the workers' stderr; nil: none.
	Log io.Writer
}

// Agent limits.
const (
	// DefaultAgentMaxWorkers is AgentConfig.MaxWorkers's default.
	DefaultAgentMaxWorkers = 64
	// MinAgentKey is the shortest key an agent accepts: the key is the
	// agent's only protection, and a short one can be guessed.
	MinAgentKey = 16
	// agentMaxSessions bounds the sessions open at once (control and
	// worker sessions of every orchestrator).
	agentMaxSessions = 256
	// agentHandshakeTimeout bounds the greeting and the key check.
	agentHandshakeTimeout = 10 * time.Second
	// agentStopTimeout bounds how long a stopping worker may take to
	// close its connections and exit before it is killed.
	agentStopTimeout = 30 * time.Second
)

// Agent serves orchestrators: it checks their key, answers plans and clock
// samples, and runs `c1m bench worker` processes for them, relaying each
// one's stdin and stdout over its session. Create it with NewAgent, run it
// with Serve; Addr may be called from any goroutine.
type Agent struct {
	cfg  AgentConfig
	ln   net.Listener
	port int

	sessions chan struct{} // a slot per open session

	mu      sync.Mutex
	procs   map[*agentProc]struct{} // running workers
	conns   map[net.Conn]struct{}   // open sessions
	closing bool
	wg      sync.WaitGroup
}

// NewAgent checks cfg and listens on cfg.Listen. It refuses to listen
// without a key anywhere but on a loopback address.
func NewAgent(cfg AgentConfig) (*Agent, error) {
	host, port, err := net.SplitHostPort(cfg.Listen)
	if err != nil {
		return nil, fmt.Errorf("cannot listen on %q: want host:port", cfg.Listen)
	}
	if len(cfg.Key) == 0 && !loopbackHost(host) {
		return nil, fmt.Errorf("cannot listen on %s without an agent key: give --agent-key or set C1M_AGENT_KEY (only a loopback address may go without)", cfg.Listen)
	}
	if len(cfg.Key) > 0 && len(cfg.Key) < MinAgentKey {
		return nil, fmt.Errorf("cannot use an agent key of %d bytes: give at least %d", len(cfg.Key), MinAgentKey)
	}
	if cfg.Exe == "" {
		return nil, fmt.Errorf("cannot start the agent: no c1m binary to run workers with")
	}
	if cfg.MaxWorkers == 0 {
		cfg.MaxWorkers = DefaultAgentMaxWorkers
	}
	if cfg.MaxWorkers < 0 {
		return nil, fmt.Errorf("cannot run at most %d worker processes", cfg.MaxWorkers)
	}
	if _, err := sysctl.RaiseFileLimit(); err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", net.JoinHostPort(host, port))
	if err != nil {
		return nil, fmt.Errorf("cannot listen on %s: %w", cfg.Listen, err)
	}
	return &Agent{cfg: cfg, ln: ln, port: ln.Addr().(*net.TCPAddr).Port,
		sessions: make(chan struct{}, agentMaxSessions),
		procs:    map[*agentProc]struct{}{}, conns: map[net.Conn]struct{}{}}, nil
}

// loopbackHost reports whether host names a loopback address.
func loopbackHost(host string) bool {
	if host == "localhost" {
		return true
	}
	a, err := netip.ParseAddr(host)
	return err == nil && a.IsLoopback()
}

// Addr is where the agent listens.
func (a *Agent) Addr() net.Addr { return a.ln.Addr() }

// Serve accepts sessions until ctx ends; then it stops every worker
// (SIGTERM, then SIGKILL after agentStopTimeout), closes the sessions and
// returns.
func (a *Agent) Serve(ctx context.Context) error {
	go func() { <-ctx.Done(); a.ln.Close() }()
	var err error
	for {
		c, aerr := a.ln.Accept()
		if aerr != nil {
			if ctx.Err() == nil {
				err = fmt.Errorf("cannot accept orchestrators: %w", aerr)
			}
			break
		}
		select {
		case a.sessions <- struct{}{}:
		default:
			_ = writeMsg(c, agentMsg{Type: "error", Error: "the agent has too many sessions open"})
			c.Close()
			continue
		}
		a.mu.Lock()
		a.conns[c] = struct{}{}
		a.mu.Unlock()
		a.wg.Add(1)
		go func() {
			defer a.wg.Done()
			a.serveConn(c)
			c.Close()
			a.mu.Lock()
			delete(a.conns, c)
			a.mu.Unlock()
			<-a.sessions
		}()
	}
	a.shutdown()
	return err
}

// shutdown stops every worker and closes every session.
func (a *Agent) shutdown() {
	a.mu.Lock()
	a.closing = true
	procs := make([]*agentProc, 0, len(a.procs))
	for p := range a.procs {
		procs = append(procs, p)
	}
	a.mu.Unlock()
	for _, p := range procs {
		p.stop()
	}
	for _, p := range procs {
		<-p.done
	}
	a.mu.Lock()
	for c := range a.conns {
		c.Close()
	}
	a.mu.Unlock()
	a.wg.Wait()
}

func (a *Agent) logf(format string, args ...any) {
	if a.cfg.Log != nil {
		fmt.Fprintf(a.cfg.Log, "c1m bench agent: "+format+"\n", args...)
	}
}

// now is this host's clock as the agent reports it (with the test skew).
func (a *Agent) now() int64 { return time.Now().UnixNano() + int64(a.cfg.ClockSkew) }

// serveConn runs one session: the key check, then requests.
func (a *Agent) serveConn(c net.Conn) {
	keys, r, err := a.handshake(c)
	if errors.Is(err, errAgentKey) {
		a.logf("refused a session from %s: wrong agent key", c.RemoteAddr())
		return
	}
	if err != nil {
		a.logf("session from %s: %v", c.RemoteAddr(), err)
		return
	}
	for {
		m, err := readMsg(r)
		if err != nil {
			if !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) {
				a.logf("session from %s: %v", c.RemoteAddr(), err)
			}
			return
		}
		switch m.Op {
		case "time":
			t1 := a.now()
			err = writeMsg(c, agentMsg{Type: "time", T0: m.T0, T1: t1, T2: a.now()})
		case "plan":
			info, perr := a.plan(m.Plan)
			if perr != nil {
				err = writeMsg(c, agentMsg{Type: "error", Error: perr.Error()})
			} else {
				err = writeMsg(c, agentMsg{Type: "plan", Info: info})
			}
		case "worker":
			a.runWorker(c, r, keys, m.Worker)
			return
		default:
			_ = writeMsg(c, agentMsg{Type: "error", Error: fmt.Sprintf("unknown request %q", m.Op)})
			return
		}
		if err != nil {
			return
		}
	}
}

// handshake greets the orchestrator, checks its key and proves the
// agent's; it returns the session's keys and its reader.
func (a *Agent) handshake(c net.Conn) (sessionKeys, *bufio.Reader, error) {
	_ = c.SetDeadline(time.Now().Add(agentHandshakeTimeout))
	nonce, err := agentNonce()
	if err != nil {
		return sessionKeys{}, nil, err
	}
	if err := writeMsg(c, agentMsg{Type: "hello", Version: agentVersion, Nonce: nonce}); err != nil {
		return sessionKeys{}, nil, err
	}
	r := bufio.NewReaderSize(c, 64<<10)
	m, err := readMsg(r)
	if err != nil {
		return sessionKeys{}, nil, fmt.Errorf("cannot read the key proof: %w", err)
	}
	if m.Op != "auth" || len(m.Nonce) != agentNonceLen || !hmac.Equal(m.MAC, agentMAC(a.cfg.Key, "c1m-agent-auth", nonce)) {
		_ = writeMsg(c, agentMsg{Type: "error", Error: errAgentKey.Error()})
		return sessionKeys{}, nil, errAgentKey
	}
	if err := writeMsg(c, agentMsg{Type: "ok", MAC: agentMAC(a.cfg.Key, "c1m-agent-proof", m.Nonce)}); err != nil {
		return sessionKeys{}, nil, err
	}
	_ = c.SetDeadline(time.Time{})
	return sessionKeys{key: a.cfg.Key, agentNonce: nonce, orchNonce: m.Nonce}, r, nil
}

// plan checks the agent's room and tuning for a share of p.Conns.
func (a *Agent) plan(p *AgentPlan) (*AgentInfo, error) {
	if p == nil || p.Conns < 1 || len(p.Targets) == 0 || len(p.Targets) > maxSpecTargets {
		return nil, fmt.Errorf("cannot plan: want a share of at least 1 connection and 1 to %d targets", maxSpecTargets)
	}
	first, err := ParseTarget(p.Targets[0])
	if err != nil {
		return nil, err
	}
	l, err := sysctl.FileLimit()
	if err != nil {
		return nil, err
	}
	per := perProcessConns(l.Cur)
	if per < 1 {
		return nil, fmt.Errorf("its open-files limit %d leaves no room for connections", l.Cur)
	}
	workers := (p.Conns + per - 1) / per
	if workers > a.cfg.MaxWorkers {
		return nil, fmt.Errorf("it has room for %d connections (at most %d worker process(es), %d each under its open-files limit %d), not its share of %d: raise its limit (c1m sysctl apply --role loadgen) or give it a smaller share",
			a.cfg.MaxWorkers*per, a.cfg.MaxWorkers, per, l.Cur, p.Conns)
	}
	sources, err := a.sources(first)
	if err != nil {
		return nil, err
	}
	lo, hi := portsAround(a.port)
	if room := len(sources) * (hi - lo + 1); room < p.Conns {
		return nil, fmt.Errorf("its %d source address(es) × ports %d-%d place %d connections, not its share of %d: start it with more --sources", len(sources), lo, hi, room, p.Conns)
	}
	info := &AgentInfo{Cores: runtime.NumCPU(), NoFile: l.Cur, PerWorker: per, Workers: workers, MaxWorkers: a.cfg.MaxWorkers,
		Ports: fmt.Sprintf("%d-%d", lo, hi)}
	info.Hostname, _ = os.Hostname()
	info.Kernel, info.BootID = kernelRelease(), bootID()
	if mi, err := ReadMemInfo(); err == nil {
		info.MemTotal = mi.Total
	}
	for _, s := range sources {
		info.Sources = append(info.Sources, s.String())
	}
	info.Loadgen, err = loadgenShortfalls(p.Conns, workers)
	if err != nil {
		return nil, err
	}
	return info, nil
}

// loadgenShortfalls is `c1m sysctl check --role loadgen` for a share of
// conns over workers processes: the rows that fall short, the open-files
// row judged for one process's part.
func loadgenShortfalls(conns, workers int) ([]sysctl.Row, error) {
	rows, err := sysctl.Check(sysctl.Env{}, conns, sysctl.RoleLoadgen)
	if err != nil {
		return nil, err
	}
	perProc, err := sysctl.Check(sysctl.Env{}, (conns+workers-1)/workers, sysctl.RoleLoadgen)
	if err != nil {
		return nil, err
	}
	var out []sysctl.Row
	for i, row := range rows {
		if row.Key == perProc[i].Key && row.Key == "RLIMIT_NOFILE (hard)" {
			row = perProc[i]
		}
		if row.Short() {
			out = append(out, row)
		}
	}
	return out, nil
}

// sources are the addresses the workers bind: the configured ones, else
// the one the kernel routes from toward target.
func (a *Agent) sources(target Target) ([]netip.Addr, error) {
	if len(a.cfg.Sources) > 0 {
		return a.cfg.Sources, nil
	}
	c, err := net.DialUDP("udp4", nil, net.UDPAddrFromAddrPort(target.Addr))
	if err != nil {
		return nil, fmt.Errorf("it has no route to %s: %w", target.Addr, err)
	}
	defer c.Close()
	src := c.LocalAddr().(*net.UDPAddr).AddrPort().Addr().Unmap()
	return []netip.Addr{src}, nil
}

// kernelRelease is uname(2)'s release.
func kernelRelease() string {
	b, err := os.ReadFile("/proc/sys/kernel/osrelease")
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

// bootID is the running kernel's boot id (random per boot, shared by
// every namespace of it).
func bootID() string {
	b, err := os.ReadFile("/proc/sys/kernel/random/boot_id")
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}
