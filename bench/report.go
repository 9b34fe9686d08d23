package bench

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"c1m/sysctl"
)

// Sample is one point of the ramp: time, connections open, server RSS.
type Sample struct {
	T    float64 `json:"t_seconds"`
	Open int     `json:"open"`
	RSS  int64   `json:"server_rss_bytes"`
}

// Report is what a run measured. It is written as report.json, report.md
// and SVG charts.
type Report struct {
	Command   string   `json:"command"`
	Scenarios []string `json:"scenarios"`
	Server    string   `json:"server"`  // c1m or baseline
	Handler   string   `json:"handler"` // the c1m servers' --handler
	Machine   Machine  `json:"machine"`
	Target    int      `json:"target_conns"`
	Servers   int      `json:"servers"`
	Workers   int      `json:"workers"`
	Start     string   `json:"start"`

	Ramp           time.Duration  `json:"ramp_ns"`
	RampSeconds    float64        `json:"ramp_seconds"`
	ConnRate       float64        `json:"conns_per_second"`
	Opened         int            `json:"opened"`
	Held           int            `json:"held"`
	Failed         int            `json:"failed"`
	Retries        int            `json:"retries"`
	ClosedByServer int            `json:"closed_by_server"`
	HoldSeconds    float64        `json:"hold_seconds"`
	Before         []ServerSample `json:"servers_before"`
	After          []ServerSample `json:"servers_after"`

	// ServerBytesPerConn is (Σ server RSS at N − Σ at 0) / N.
	ServerBytesPerConn float64 `json:"server_user_bytes_per_conn"`
	// KernelBytesPerSocket is the Slab growth over the 2N sockets (both
	// ends live on this box).
	KernelBytesPerSocket float64 `json:"kernel_bytes_per_socket"`
	// BoxUsedBytes is MemTotal − MemAvailable at full count.
	BoxUsedBytes int64    `json:"box_used_bytes"`
	Samples      []Sample `json:"samples"`

	Phases        []PhaseResult      `json:"phases"`
	ServerMetrics map[string]float64 `json:"server_metrics"`
	Preflight     []string           `json:"preflight"`
}

// Machine names the box the run measured.
type Machine struct {
	Cores    int    `json:"cores"`
	MemTotal int64  `json:"mem_total_bytes"`
	Kernel   string `json:"kernel"`
	NoFile   uint64 `json:"nofile"`
	GoVer    string `json:"go"`
}

func newReport(cfg Config) *Report {
	m := Machine{Cores: runtime.NumCPU(), GoVer: runtime.Version()}
	if mi, err := ReadMemInfo(); err == nil {
		m.MemTotal = mi.Total
	}
	// uname(2)'s release, read where every platform can compile it.
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.Kernel = strings.TrimSpace(string(b))
	}
	m.NoFile, _ = sysctl.RaiseFileLimit()
	return &Report{
		Command: cfg.Command, Scenarios: cfg.Scenarios, Server: cfg.Server, Handler: cfg.Handler, Machine: m, Target: cfg.Conns,
		Servers: cfg.Servers, Workers: cfg.Workers, Start: time.Now().UTC().Format(time.RFC3339),
		HoldSeconds: cfg.Hold.Seconds(),
	}
}

func (r *Report) addSample(t time.Duration, open int, rss int64) {
	r.Samples = append(r.Samples, Sample{T: t.Seconds(), Open: open, RSS: rss})
}

func (r *Report) finish(before, after MemInfo) {
	r.RampSeconds = r.Ramp.Seconds()
	if r.RampSeconds > 0 {
		r.ConnRate = float64(r.Opened) / r.RampSeconds
	}
	var b, a int64
	for i := range r.Before {
		b += r.Before[i].RSS
		a += r.After[i].RSS
	}
	if r.Held > 0 {
		r.ServerBytesPerConn = float64(a-b) / float64(r.Held)
		r.KernelBytesPerSocket = float64(after.Slab-before.Slab) / float64(2*r.Held)
	}
	r.BoxUsedBytes = after.Total - after.Available
}

// write stores report.json, report.md and the charts in dir.
func (r *Report) write(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("cannot create report directory: %w", err)
	}
	j, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return fmt.Errorf("cannot encode report: %w", err)
	}
	files := map[string][]byte{
		"report.json":     append(j, '\n'),
		"report.md":       []byte(r.markdown()),
		"memory.svg":      []byte(lineChart("Server RSS against connections open", "connections open", "server RSS (MiB)", r.memoryPoints())),
		"connections.svg": []byte(lineChart("Connections per second during the ramp", "seconds", "connections opened per second", r.ratePoints())),
		"latency.svg":     []byte(lineChart("Broadcast delivery latency (CDF)", "latency (ms)", "fraction delivered", r.latencyPoints())),
	}
	for name, b := range files {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			return fmt.Errorf("cannot write %s: %w", name, err)
		}
	}
	return nil
}

func (r *Report) memoryPoints() [][2]float64 {
	var pts [][2]float64
	for _, s := range r.Samples {
		pts = append(pts, [2]float64{float64(s.Open), float64(s.RSS) / (1 << 20)})
	}
	return pts
}

// ratePoints is the connection rate between successive ramp samples.
func (r *Report) ratePoints() [][2]float64 {
	var pts [][2]float64
	for i := 1; i < len(r.Samples); i++ {
		a, b := r.Samples[i-1], r.Samples[i]
		if dt := b.T - a.T; dt > 0 && b.T <= r.RampSeconds+1 {
			pts = append(pts, [2]float64{b.T, max(float64(b.Open-a.Open)/dt, 0)})
		}
	}
	return pts
}

// latencyPoints is the CDF of the first broadcast phase.
func (r *Report) latencyPoints() [][2]float64 {
	for _, p := range r.Phases {
		if p.Name == ScenarioBroadcast {
			return p.CDF
		}
	}
	if len(r.Phases) > 0 {
		return r.Phases[0].CDF
	}
	return nil
}

func (r *Report) markdown() string {
	var b strings.Builder
	m := r.Machine
	fmt.Fprintf(&b, "# c1m bench: %s server (handler %s), %d connections, %s\n\n", r.Server, r.Handler, r.Target, strings.Join(r.Scenarios, ", "))
	fmt.Fprintf(&b, "Command: `%s`\n\n", r.Command)
	fmt.Fprintf(&b, "Machine: %d cores, %.1f GiB, Linux %s, open-files limit %d, %s; started %s.\n\n",
		m.Cores, float64(m.MemTotal)/(1<<30), m.Kernel, m.NoFile, m.GoVer, r.Start)
	fmt.Fprintf(&b, "| measure | value |\n|---|---|\n")
	row := func(k, f string, v ...any) { fmt.Fprintf(&b, "| %s | "+f+" |\n", append([]any{k}, v...)...) }
	row("server processes / worker processes", "%d / %d", r.Servers, r.Workers)
	row("connections opened / held at the end", "%d / %d (%.2f%% of target)", r.Opened, r.Held, 100*float64(r.Held)/float64(max(r.Target, 1)))
	row("failed after retries / retried attempts", "%d / %d", r.Failed, r.Retries)
	row("closed by the server", "%d", r.ClosedByServer)
	row("ramp time", "%.1f s", r.RampSeconds)
	row("connection set-up rate (TCP + upgrade)", "%.0f /s", r.ConnRate)
	row("hold", "%.0f s", r.HoldSeconds)
	row("server user-space memory per connection (RSS delta / N)", "%.0f B", r.ServerBytesPerConn)
	row("kernel memory per socket (Slab delta / 2N)", "%.0f B", r.KernelBytesPerSocket)
	row("whole box memory in use at full count", "%.2f GiB", float64(r.BoxUsedBytes)/(1<<30))
	if len(r.Phases) > 0 {
		fmt.Fprintf(&b, "\n| scenario | messages | receivers complete | latency p50 / p90 / p99 / p99.9 / max (ms) | probe RTT p99 (ms) | deliveries (per second) | server CPU per delivery | server RSS before → peak | closes seen by clients |\n|---|---|---|---|---|---|---|---|---|\n")
		for _, p := range r.Phases {
			fmt.Fprintf(&b, "| %s | %d | %d / %d (%.3f%%)%s | %.1f / %.1f / %.1f / %.1f / %.1f | %.1f | %d (%.0f/s) | %.2f µs | %.0f → %.0f MiB | %v |\n",
				p.Name, p.Messages, p.Complete, p.Receivers, 100*p.Completeness, phaseExtra(p),
				p.Latency.P50, p.Latency.P90, p.Latency.P99, p.Latency.P999, p.Latency.Max, p.Probe.P99,
				p.Deliveries, p.DeliveriesPerSecond, p.CPUMicrosPerDelivery, float64(p.RSSBefore)/(1<<20), float64(p.RSSPeak)/(1<<20), p.Closes)
		}
	}
	if len(r.Preflight) > 0 {
		fmt.Fprintf(&b, "\nPreflight (what this box lacks for a run of this size):\n\n")
		for _, n := range r.Preflight {
			fmt.Fprintf(&b, "- %s\n", n)
		}
	}
	fmt.Fprintf(&b, "\nCharts: memory.svg (server RSS against connections), connections.svg (connections per second), latency.svg (broadcast latency CDF).\n")
	return b.String()
}

func phaseExtra(p PhaseResult) string {
	s := ""
	if p.Slow > 0 {
		s += fmt.Sprintf(", %d slow", p.Slow)
	}
	if p.Churned > 0 {
		s += fmt.Sprintf(", %d churned", p.Churned)
	}
	if p.Extra > 0 {
		s += fmt.Sprintf(", %d DUPLICATED", p.Extra)
	}
	return s
}
