package bench

import (
	"fmt"
	"os"
	"strings"

	"github.com/HdrHistogram/hdrhistogram-go"

	"c1m/sysctl"
)

// AgentReport is one load generator of a run with --agents: an agent, or
// "local" for this box's own workers beside them.
type AgentReport struct {
	Name     string `json:"name"` // "local", or the agent's host:port
	Hostname string `json:"hostname,omitempty"`
	Cores    int    `json:"cores,omitempty"`
	Kernel   string `json:"kernel,omitempty"`
	// SameKernel: its sockets live in this box's kernel (local, or an
	// agent in a network namespace of it), so they count in the report's
	// kernel memory per socket.
	SameKernel bool     `json:"same_kernel"`
	NoFile     uint64   `json:"nofile,omitempty"` // each worker process's open-files limit
	Workers    int      `json:"workers"`
	Share      int      `json:"share"`
	Sources    []string `json:"sources,omitempty"` // an agent's (local's are the run's --sources)
	Ports      string   `json:"ports,omitempty"`

	Opened  int `json:"opened"`
	Held    int `json:"held"`
	Failed  int `json:"failed"`
	Retries int `json:"retries"`
	// RampSeconds is how long its connections took to open (or fail),
	// from the common start.
	RampSeconds float64 `json:"ramp_seconds"`

	// Clock is its offset to the orchestrator's clock, measured before
	// the ramp and before each scenario (nil for local: same clock).
	Clock      []ClockMeasure `json:"clock,omitempty"`
	ClockError string         `json:"clock_error,omitempty"`
	// Loadgen are the shortfalls of its loadgen tuning for its share.
	Loadgen []sysctl.Row `json:"loadgen_shortfalls,omitempty"`
	Lost    []string     `json:"lost,omitempty"`
	Phases  []AgentPhase `json:"phases"`
}

// AgentPhase is what one load generator's connections measured in a
// scenario.
type AgentPhase struct {
	Name       string      `json:"name"`
	Receivers  int         `json:"receivers"`
	Complete   int         `json:"complete"`
	Short      int         `json:"short"`
	Extra      int         `json:"extra"`
	Deliveries int64       `json:"deliveries"`
	Latency    Percentiles `json:"latency"`
	Probe      Percentiles `json:"probe_rtt"`
	// Early counts deliveries that seemed to arrive before they were
	// sent once its clock offset was removed (the offset's error was
	// larger than their latency); they count as 1 µs.
	Early int `json:"early"`
}

// clockMethod is the report's sentence on clocks when agents ran.
const clockMethod = "Each agent's clock offset to the orchestrator (which stamps every broadcast) is measured NTP-style: " +
	"8 request/response exchanges, the one with the smallest round trip kept, the offset within ± half that round trip. " +
	"It is measured before the ramp and again before each scenario, and every agent's workers subtract it from each delivery's receive time."

func (r *runner) addHostPhase(h *host, name string, ds []Dump) {
	p := AgentPhase{Name: name}
	var lat, probe []*hdrhistogram.Snapshot
	for _, d := range ds {
		p.Receivers += d.Open - d.Slow - d.Reconnected
		p.Complete += d.Complete
		p.Short += d.Short
		p.Extra += d.Extra
		p.Early += d.Early
		lat = append(lat, d.Latency)
		probe = append(probe, d.Probe)
	}
	lh := MergeSnapshots(lat)
	p.Latency, p.Deliveries = percentiles(lh), lh.TotalCount()
	p.Probe = percentiles(MergeSnapshots(probe))
	h.phases = append(h.phases, p)
}

// agentReports are the run's load generators, when it had agents.
func (r *runner) agentReports() []AgentReport {
	if len(r.cfg.Agents) == 0 {
		return nil
	}
	var out []AgentReport
	for _, h := range r.hosts {
		a := AgentReport{Name: h.name, SameKernel: h.sameKernel(), Workers: h.procs, Share: h.share,
			Opened: h.opened, Held: h.held, Failed: h.failed, Retries: h.retries, RampSeconds: h.ramp,
			Clock: h.clocks, ClockError: h.clockFailed, Lost: h.lost, Phases: h.phases}
		if i := h.info; i != nil {
			a.Hostname, a.Cores, a.Kernel, a.NoFile = i.Hostname, i.Cores, i.Kernel, i.NoFile
			a.Sources, a.Ports, a.Loadgen = i.Sources, i.Ports, i.Loadgen
		} else {
			a.Hostname, _ = os.Hostname()
		}
		out = append(out, a)
	}
	return out
}

// markdownAgents writes the load generators' tables.
func (r *Report) markdownAgents(b *strings.Builder) {
	if len(r.Agents) == 0 {
		return
	}
	fmt.Fprintf(b, "\nLoad generators (the totals above are their sum):\n\n")
	fmt.Fprintf(b, "| load generator | host | worker processes | share | opened / held | failed / retried | ramp | clock offset (± bound), before the ramp → last |\n|---|---|---|---|---|---|---|---|\n")
	for _, a := range r.Agents {
		host := a.Hostname
		if a.Name != AgentLocal && a.SameKernel {
			host += " (this box's kernel)"
		}
		fmt.Fprintf(b, "| %s | %s | %d | %d | %d / %d | %d / %d | %.1f s | %s |\n",
			a.Name, host, a.Workers, a.Share, a.Opened, a.Held, a.Failed, a.Retries, a.RampSeconds, formatClock(a))
	}
	if r.Clock != "" {
		fmt.Fprintf(b, "\n%s\n", r.Clock)
	}
	var rows []string
	for _, a := range r.Agents {
		for _, p := range a.Phases {
			rows = append(rows, fmt.Sprintf("| %s | %s | %d / %d%s | %d | %.1f / %.1f / %.1f | %.1f | %d |",
				p.Name, a.Name, p.Complete, p.Receivers, dupNote(p.Extra), p.Deliveries, p.Latency.P50, p.Latency.P99, p.Latency.Max, p.Probe.P99, p.Early))
		}
	}
	if len(rows) > 0 {
		fmt.Fprintf(b, "\n| scenario | load generator | receivers complete | deliveries | latency p50 / p99 / max (ms) | probe RTT p99 (ms) | delivered before sent (clock error) |\n|---|---|---|---|---|---|---|\n")
		b.WriteString(strings.Join(rows, "\n") + "\n")
	}
	var short []string
	for _, a := range r.Agents {
		for _, row := range a.Loadgen {
			short = append(short, fmt.Sprintf("- %s, %s: %s, needs %s. %s", a.Name, row.Key, row.Current, row.Needed, row.Fix))
		}
	}
	if len(short) > 0 {
		fmt.Fprintf(b, "\nLoadgen tuning the agents lack for their share (`c1m sysctl check --role loadgen`):\n\n%s\n", strings.Join(short, "\n"))
	}
}

// markdownLost lists the workers lost mid-run.
func (r *Report) markdownLost(b *strings.Builder) {
	if len(r.Lost) == 0 {
		return
	}
	fmt.Fprintf(b, "\nLost mid-run (the figures cover the other workers):\n\n")
	for _, l := range r.Lost {
		fmt.Fprintf(b, "- %s\n", l)
	}
}

func formatClock(a AgentReport) string {
	if a.Name == AgentLocal {
		return "same clock"
	}
	if len(a.Clock) == 0 {
		return "not measured: " + a.ClockError
	}
	f, l := a.Clock[0], a.Clock[len(a.Clock)-1]
	s := fmt.Sprintf("%+.3f ms (± %.3f)", f.OffsetMs, f.ErrorMs)
	if len(a.Clock) > 1 {
		s += fmt.Sprintf(" → %+.3f ms (± %.3f)", l.OffsetMs, l.ErrorMs)
	}
	return s
}

func dupNote(extra int) string {
	if extra > 0 {
		return fmt.Sprintf(", %d DUPLICATED", extra)
	}
	return ""
}
