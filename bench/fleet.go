package bench

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"os"
	"slices"
	"strconv"
	"strings"
)

// AgentLocal, in an --agents list, stands for worker processes on this
// box beside the agents.
const AgentLocal = "local"

// ParseAgents parses an --agents list: host:port of `c1m bench agent`s,
// and local at most once; no repeats.
func ParseAgents(s string) ([]string, error) {
	var out []string
	for _, a := range strings.Split(s, ",") {
		a = strings.TrimSpace(a)
		if a == "" {
			continue
		}
		if a != AgentLocal {
			host, port, err := net.SplitHostPort(a)
			if p, perr := strconv.Atoi(port); err != nil || host == "" || perr != nil || p < 1 || p > 65535 {
				return nil, fmt.Errorf("cannot use agent %q: want host:port or local", a)
			}
		}
		if slices.Contains(out, a) {
			return nil, fmt.Errorf("cannot use agent %q twice", a)
		}
		out = append(out, a)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("cannot use agents %q: none given", s)
	}
	return out, nil
}

// members are the run's load generators: the agents (and local), or
// this box alone.
func (c *Config) members() []string {
	if len(c.Agents) == 0 {
		return []string{AgentLocal}
	}
	return c.Agents
}

// share is member i's part of the connections: an even split, the first
// ones taking one more.
func (c *Config) share(i int) int {
	n := len(c.members())
	s := c.Conns / n
	if i < c.Conns%n {
		s++
	}
	return s
}

// localShare is the connections this box's own workers open.
func (c *Config) localShare() int {
	if i := slices.Index(c.members(), AgentLocal); i >= 0 {
		return c.share(i)
	}
	return 0
}

// checkAgents checks the agent settings against the rest.
func (c *Config) checkAgents() error {
	if len(c.Agents) == 0 {
		return nil
	}
	if a, err := netip.ParseAddr(c.ServerHost); err != nil || !a.Is4() {
		return fmt.Errorf("cannot use --server-host %q: want an IPv4 address", c.ServerHost)
	}
	offBox := false
	for _, m := range c.Agents {
		if host, _, err := net.SplitHostPort(m); err == nil && !loopbackHost(host) {
			offBox = true
		}
	}
	switch {
	case c.Conns < len(c.Agents):
		return fmt.Errorf("cannot spread %d connections over %d load generators", c.Conns, len(c.Agents))
	case c.Workers > 0 && !slices.Contains(c.Agents, AgentLocal):
		return fmt.Errorf("cannot use --workers without local in --agents: each agent runs the worker processes its share needs")
	case offBox && c.AgentKey == "":
		return fmt.Errorf("cannot use agents on other hosts without their key: give --agent-key or set %s", AgentKeyEnv)
	case offBox && len(c.Targets) == 0 && loopbackHost(c.ServerHost):
		return fmt.Errorf("cannot send agents on other hosts to local servers on %s: give --server-host with an address they reach", c.ServerHost)
	}
	return nil
}

// host is one member of a run's load generation: this box's own worker
// processes ("local") or an agent. It belongs to the runner's goroutine.
type host struct {
	name        string       // "local", or the agent's host:port
	agent       *agentClient // nil for local
	info        *AgentInfo   // the agent's plan answer
	share       int          // connections it opens
	first       int          // global index of its first connection
	procs       int          // its worker processes
	workers     []*worker
	clocks      []ClockMeasure // its offset, measured before the ramp and each scenario
	ramp        float64        // seconds until its connections were all opened or failed
	rampDone    bool
	opened      int
	failed      int
	retries     int
	held        int
	phases      []AgentPhase
	lost        []string
	clockFailed string // why a clock measure failed, if one did
}

// newHosts lays the run's members out over the connection indices.
func newHosts(cfg *Config) []*host {
	var out []*host
	first := 0
	for i, m := range cfg.members() {
		h := &host{name: m, share: cfg.share(i), first: first}
		if m == AgentLocal {
			h.procs = cfg.Workers
		}
		first += h.share
		out = append(out, h)
	}
	return out
}

// sameKernel reports whether the host's sockets live in this box's
// kernel: local workers, and agents in a network namespace of it.
func (h *host) sameKernel() bool {
	return h.agent == nil || (h.info != nil && h.info.BootID != "" && h.info.BootID == bootID())
}

// connectAgents opens every agent's control session and asks it about
// its share: an unreachable agent, a wrong key or an agent without the
// room for its share stops the run here, before any server starts.
func (r *runner) connectAgents(ctx context.Context, targets []string) error {
	for _, h := range r.hosts {
		if h.name == AgentLocal {
			continue
		}
		a, err := connectAgent(ctx, h.name, []byte(r.cfg.AgentKey))
		if err != nil {
			return err
		}
		h.agent = a
		if h.info, err = a.plan(h.share, targets); err != nil {
			return err
		}
		h.procs = h.info.Workers
		for _, row := range h.info.Loadgen {
			r.logf("agent %s (loadgen check for %d connections): %s is %s, needs %s; %s", h.name, h.share, row.Key, row.Current, row.Needed, row.Fix)
		}
	}
	return nil
}

// closeAgents ends the control sessions.
func (r *runner) closeAgents() {
	for _, h := range r.hosts {
		if h.agent != nil {
			h.agent.close()
		}
	}
}

// measureClocks measures every agent's clock offset; at says when. An
// agent that does not answer keeps its last offset (its workers, if it
// died, are reported lost).
func (r *runner) measureClocks(at string) {
	for _, h := range r.hosts {
		if h.agent == nil || (h.workers != nil && len(liveWorkers(h.workers)) == 0) {
			continue
		}
		m, err := h.agent.clock(at)
		if err != nil {
			if h.clockFailed == "" {
				h.clockFailed = err.Error()
			}
			r.logf("agent %s: cannot measure its clock %s: %v", h.name, at, err)
			continue
		}
		h.clocks = append(h.clocks, m)
	}
}

// updateClocks measures the agents' clocks again and gives each agent's
// workers the new offset (before a scenario: the clocks may have drifted
// since the ramp).
func (r *runner) updateClocks(at string) {
	r.measureClocks(at)
	for _, h := range r.hosts {
		if h.agent == nil || len(h.clocks) == 0 || h.clocks[len(h.clocks)-1].At != at {
			continue
		}
		_, _ = doAll(h.workers, Command{Cmd: "clock", Offset: h.clocks[len(h.clocks)-1].offset})
	}
}

// jwtForAgents is the run's token key as the agents' workers need it.
func (r *runner) jwtForAgents() (jwtKey, error) {
	switch {
	case r.cfg.JWTSecret != "":
		return jwtKey{kind: "secret", secret: []byte(r.cfg.JWTSecret)}, nil
	case r.cfg.JWTPrivateKey != "":
		b, err := os.ReadFile(r.cfg.JWTPrivateKey)
		if err != nil {
			return jwtKey{}, fmt.Errorf("cannot read the JWT private key for the agents: %w", err)
		}
		return jwtKey{kind: "pem", secret: b}, nil
	}
	return jwtKey{}, nil
}

// startWorkers starts every host's worker processes, each with its slice
// of the host's share, and their readers.
func (r *runner) startWorkers(ctx context.Context, targets []string) error {
	cfg := r.cfg
	total := 0
	remote := false
	for _, h := range r.hosts {
		total += h.procs
		remote = remote || h.agent != nil
	}
	var jwt jwtKey
	if remote {
		var err error
		if jwt, err = r.jwtForAgents(); err != nil {
			return err
		}
	}
	idx := 0
	for _, h := range r.hosts {
		off := 0
		for i := 0; i < h.procs; i++ {
			n := h.share / h.procs
			if i < h.share%h.procs {
				n++
			}
			// Each worker spreads its connections over every server, so
			// the servers fill evenly whatever the worker count. About
			// 16,384 attempts in flight over all workers: enough to fill
			// every accept queue, few enough that a queue never
			// overflows into SYN retransmissions.
			spec := WorkerSpec{Targets: rotate(targets, idx), Conns: n, First: h.first + off, Total: cfg.Conns,
				EndpointFirst: off, EndpointTotal: h.share, Probes: cfg.Probes,
				InFlight: max(16384/total, 64), Retries: 10, HostWorkers: h.procs}
			if cfg.Rate > 0 {
				spec.Rate = max(cfg.Rate/total, 1)
			}
			if cfg.has(ScenarioSlow) {
				spec.SlowFraction = cfg.SlowFraction
			}
			if len(h.clocks) > 0 {
				spec.ClockOffset = h.clocks[len(h.clocks)-1].offset
			}
			w := &worker{host: h, name: fmt.Sprintf("local worker %d", i+1), dumps: make(chan Dump, 1)}
			var err error
			if h.agent == nil {
				w.link, err = startLocalWorker(ctx, cfg, spec)
			} else {
				w.name = fmt.Sprintf("agent %s worker %d", h.name, i+1)
				w.link, err = h.agent.openWorker(ctx, spec, jwt)
			}
			if err != nil {
				return fmt.Errorf("cannot start %s: %w", w.name, err)
			}
			go w.readOutput()
			r.workers = append(r.workers, w)
			h.workers = append(h.workers, w)
			off += n
			idx++
		}
	}
	return nil
}

// noteLost reports every worker lost since the last call (in the log and
// the report), and fails when no worker is left.
func (r *runner) noteLost() error {
	for _, w := range r.workers {
		err := w.failed()
		if err == nil || w.reported {
			continue
		}
		w.reported = true
		msg := fmt.Sprintf("%s was lost %s: %v", w.name, r.stage, err)
		r.rep.Lost = append(r.rep.Lost, msg)
		w.host.lost = append(w.host.lost, msg)
		r.logf("%s", msg)
	}
	if len(liveWorkers(r.workers)) == 0 {
		return fmt.Errorf("cannot go on %s: %w", r.stage, errNoWorkers)
	}
	return nil
}

// rampHosts notes, for each host, when its last connection opened or
// failed (el: seconds into the ramp).
func (r *runner) rampHosts(el float64) {
	for _, h := range r.hosts {
		if !h.rampDone && len(liveWorkers(h.workers)) > 0 && allDone(h.workers) {
			h.rampDone, h.ramp = true, el
		}
	}
}

// endRamp keeps each host's ramp figures; a host still ramping at the
// end took the whole ramp.
func (r *runner) endRamp(el float64) {
	for _, h := range r.hosts {
		p := sumProgress(h.workers)
		h.opened, h.failed, h.retries = p.Open, p.Failed, p.Retries
		if !h.rampDone {
			h.ramp = el
		}
	}
}

// localSockets is how many of the held connections' sockets live in this
// box's kernel: the local servers' ends and the ends of every host on it.
func (r *runner) localSockets(held int) int {
	n := 0
	if len(r.servers) > 0 {
		n = held
	}
	for _, h := range r.hosts {
		if h.sameKernel() {
			n += h.held
		}
	}
	return n
}

// hostPhases adds a phase's figures per host, from its workers' answers.
func (r *runner) hostPhases(name string, rs []reply) {
	if len(r.cfg.Agents) == 0 {
		return
	}
	for _, h := range r.hosts {
		var mine []Dump
		for _, x := range rs {
			if x.w.host == h {
				mine = append(mine, x.d)
			}
		}
		r.addHostPhase(h, name, mine)
	}
}
