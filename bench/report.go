package bench

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
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
	Server    string   `json:"server"`  // c1m, raw or baseline
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

	// ServerBytesPerConn is the servers' memory per connection,
	// Memory.PerConn (bench/memory.go); 0 without local servers.
	ServerBytesPerConn float64 `json:"server_user_bytes_per_conn"`
	// Memory is how ServerBytesPerConn was measured, and its parts; nil
	// without local servers (--target).
	Memory *Memory `json:"memory,omitempty"`
	// KernelBytesPerSocket is the Slab growth over the 2N sockets (both
	// ends live on this box).
	KernelBytesPerSocket float64 `json:"kernel_bytes_per_socket"`
	// BoxUsedBytes is MemTotal − MemAvailable at full count.
	BoxUsedBytes int64    `json:"box_used_bytes"`
	Samples      []Sample `json:"samples"`

	// Auth is the client tokens: "none", or the JWT algorithm (HS256,
	// RS256, ES256) of the one token per connection the workers minted,
	// which took TokenMintSeconds (the slowest worker) before the ramp.
	Auth             string  `json:"auth"`
	TokenMintSeconds float64 `json:"token_mint_seconds"`

	// Cluster says which backplane joined the servers (cluster mode;
	// empty when each server stood alone and got every publish),
	// ClusterReadySeconds how long after their start every node's
	// /readyz said ok, PublishVia how the rooms scenario published, and
	// Nodes each node's backplane counters at the end.
	Cluster             string         `json:"cluster,omitempty"`
	ClusterReadySeconds float64        `json:"cluster_ready_seconds,omitempty"`
	PublishVia          string         `json:"publish_via,omitempty"`
	Nodes               []NodeCounters `json:"cluster_nodes,omitempty"`
	// HoldServerCPU is the servers' CPU use during the idle hold, in
	// cores (CPU seconds per second, summed over the processes).
	HoldServerCPU float64 `json:"hold_server_cpu_cores"`

	Phases        []PhaseResult      `json:"phases"`
	ServerMetrics map[string]float64 `json:"server_metrics"`
	Preflight     []string           `json:"preflight"`

	// Agents are the load generators of a run with --agents, each with
	// its share and figures (report_agents.go); Clock says how their
	// clocks were reconciled with the publisher's.
	Agents []AgentReport `json:"agents,omitempty"`
	Clock  string        `json:"clock,omitempty"`
	// Lost lists the worker processes lost mid-run (an agent that died,
	// a worker that exited or went silent); the figures cover the rest.
	Lost []string `json:"lost,omitempty"`
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
		HoldSeconds: cfg.Hold.Seconds(), Cluster: cfg.clusterMode(), PublishVia: publishVia(cfg),
	}
}

// publishVia says how the run published, for the report: once per
// message in cluster mode (through the API or the clients), else to
// every server's API.
func publishVia(cfg Config) string {
	switch {
	case !cfg.clustered():
		return "every server's API (each publish once per server)"
	case cfg.PublishVia == PublishViaWS:
		return "broadcasts once through node 0's API; room messages once, from a member's connection (room_message)"
	}
	return fmt.Sprintf("once per message: broadcasts through node 0's API, room messages through each node's API in turn (%d requests in flight)", cfg.Publishers)
}

func (r *Report) addSample(t time.Duration, open int, rss int64) {
	r.Samples = append(r.Samples, Sample{T: t.Seconds(), Open: open, RSS: rss})
}

// finish computes the derived figures; sockets is how many sockets of the
// held connections live in this box's kernel (2 × Held when both ends run
// here).
func (r *Report) finish(before, after MemInfo, sockets int) {
	r.RampSeconds = r.Ramp.Seconds()
	if r.RampSeconds > 0 {
		r.ConnRate = float64(r.Opened) / r.RampSeconds
	}
	if r.Held > 0 && r.Memory != nil {
		r.Memory.compute(r.Held)
		r.ServerBytesPerConn = r.Memory.PerConn
	}
	if sockets > 0 {
		r.KernelBytesPerSocket = float64(after.Slab-before.Slab) / float64(sockets)
	}
	r.BoxUsedBytes = after.Total - after.Available
}

// write stores report.json, report.md and the charts in dir.
func (r *Report) write(dir string) error {
	j, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return fmt.Errorf("cannot encode report: %w", err)
	}
	return writeReportFiles(dir, append(j, '\n'), r.markdown(), reportCharts([]*Report{r}))
}

// writeReportFiles writes report.json, report.md and the charts into dir.
func writeReportFiles(dir string, js []byte, md string, charts []chart) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("cannot create report directory: %w", err)
	}
	files := map[string][]byte{"report.json": js, "report.md": []byte(md)}
	for _, c := range charts {
		files[c.File] = []byte(lineChart(c.Title, c.XLabel, c.YLabel, c.Series...))
	}
	for name, b := range files {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			return fmt.Errorf("cannot write %s: %w", name, err)
		}
	}
	return nil
}

// chart is one SVG file of a report.
type chart struct {
	File, Title, XLabel, YLabel string
	Series                      []series
}

// reportCharts are the charts of one run, or of a comparison (one line
// per run, named by its server).
func reportCharts(runs []*Report) []chart {
	mem := chart{File: "memory.svg", Title: "Server RSS against connections open", XLabel: "connections open", YLabel: "server RSS (MiB)"}
	rate := chart{File: "connections.svg", Title: "Connections per second during the ramp", XLabel: "seconds", YLabel: "connections opened per second"}
	lat := chart{File: "latency.svg", Title: "Broadcast delivery latency (CDF)", XLabel: "latency (ms)", YLabel: "fraction delivered"}
	for _, r := range runs {
		mem.Series = append(mem.Series, series{Name: r.Server, Pts: r.memoryPoints()})
		rate.Series = append(rate.Series, series{Name: r.Server, Pts: r.ratePoints()})
		lat.Series = append(lat.Series, series{Name: r.Server, Pts: r.latencyPoints()})
	}
	return []chart{mem, rate, lat}
}

// chartLinks embeds the charts in Markdown, as images next to the report.
func chartLinks(b *strings.Builder, charts []chart) {
	for _, c := range charts {
		fmt.Fprintf(b, "![%s](%s)\n\n", c.Title, c.File)
	}
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

// latencyPoints is the CDF of the broadcast phase (else the first phase).
func (r *Report) latencyPoints() [][2]float64 {
	if p := r.broadcastPhase(); p != nil {
		return p.CDF
	}
	return nil
}

// broadcastPhase is the phase a comparison reads latency and CPU from:
// the broadcast scenario, else the first phase that delivered anything.
func (r *Report) broadcastPhase() *PhaseResult {
	for i := range r.Phases {
		if r.Phases[i].Name == ScenarioBroadcast {
			return &r.Phases[i]
		}
	}
	for i := range r.Phases {
		if r.Phases[i].Deliveries > 0 {
			return &r.Phases[i]
		}
	}
	return nil
}

// serverName is how a report's title names its server.
func (r *Report) serverName() string {
	switch r.Server {
	case ServerC1M:
		return "c1m server (handler " + r.Handler + ")"
	case ServerRaw:
		return "raw floor server"
	}
	return r.Server + " server"
}

func (r *Report) markdown() string {
	var b strings.Builder
	fmt.Fprintf(&b, "# c1m bench: %s, %d connections, %s\n\n", r.serverName(), r.Target, strings.Join(r.Scenarios, ", "))
	fmt.Fprintf(&b, "Command: `%s`\n\n", r.Command)
	machineLine(&b, r.Machine, r.Start)
	r.markdownBody(&b)
	b.WriteString("\n")
	chartLinks(&b, reportCharts([]*Report{r}))
	return b.String()
}

func machineLine(b *strings.Builder, m Machine, start string) {
	fmt.Fprintf(b, "Machine: %d cores, %.1f GiB, Linux %s, open-files limit %d, %s; started %s.\n\n",
		m.Cores, float64(m.MemTotal)/(1<<30), m.Kernel, m.NoFile, m.GoVer, start)
}

// markdownBody writes the run's tables and preflight notes.
func (r *Report) markdownBody(b *strings.Builder) {
	fmt.Fprintf(b, "| measure | value |\n|---|---|\n")
	row := func(k, f string, v ...any) { fmt.Fprintf(b, "| %s | "+f+" |\n", append([]any{k}, v...)...) }
	row("server processes / worker processes", "%d / %d", r.Servers, r.Workers)
	if r.Auth != "" && r.Auth != "none" {
		row("client tokens", "%s, one per connection, minted in %.2f s before the ramp", r.Auth, r.TokenMintSeconds)
	}
	row("connections opened / held at the end", "%d / %d (%.2f%% of target)", r.Opened, r.Held, 100*float64(r.Held)/float64(max(r.Target, 1)))
	row("failed after retries / retried attempts", "%d / %d", r.Failed, r.Retries)
	row("closed by the server", "%d", r.ClosedByServer)
	row("ramp time", "%.1f s", r.RampSeconds)
	row("connection set-up rate (TCP + upgrade)", "%.0f /s", r.ConnRate)
	row("hold", "%.0f s", r.HoldSeconds)
	if m := r.Memory; m != nil {
		row("server memory per connection ¹", "**%.0f B**: fd-indexed tables %.0f B (%.0f B per fd, open-files limit %d per server), heap objects %.0f B, goroutine stacks %.0f B, the rest %.0f B",
			m.PerConn, m.Tables, m.TableBytesPerFD, m.NoFile, m.Heap, m.Stacks, m.Rest)
	}
	row("servers' CPU during the idle hold", "%.2f cores", r.HoldServerCPU)
	if r.Cluster != "" {
		row("cluster", "%s; ready %.1f s after the servers started", r.Cluster, r.ClusterReadySeconds)
		var rss int64
		for _, s := range r.Before {
			rss += s.RSS
		}
		row("server RSS before any connection (per process, NATS included)", "%.1f MiB", float64(rss)/float64(max(len(r.Before), 1))/(1<<20))
	}
	if r.PublishVia != "" {
		row("publishing", "%s", r.PublishVia)
	}
	if len(r.Agents) > 0 {
		row("kernel memory per socket on this box (Slab delta / its sockets)", "%.0f B", r.KernelBytesPerSocket)
	} else {
		row("kernel memory per socket (Slab delta / 2N)", "%.0f B", r.KernelBytesPerSocket)
	}
	row("whole box memory in use at full count", "%.2f GiB", float64(r.BoxUsedBytes)/(1<<30))
	if r.Memory != nil {
		fmt.Fprintf(b, "\n¹ %s\n", memoryDefinition(r.Memory.ControlNoFile))
	}
	if len(r.Phases) > 0 {
		fmt.Fprintf(b, "\n| scenario | messages | receivers complete | latency p50 / p90 / p99 / p99.9 / max (ms) | probe RTT p99 (ms) | deliveries (per second) | server CPU per delivery | server RSS before → peak | closes seen by clients |\n|---|---|---|---|---|---|---|---|---|\n")
		for _, p := range r.Phases {
			fmt.Fprintf(b, "| %s | %d | %d / %d (%.3f%%)%s | %.1f / %.1f / %.1f / %.1f / %.1f | %.1f | %d (%.0f/s) | %.2f µs | %.0f → %.0f MiB | %s |\n",
				p.Name, p.Messages, p.Complete, p.Receivers, 100*p.Completeness, phaseExtra(p),
				p.Latency.P50, p.Latency.P90, p.Latency.P99, p.Latency.P999, p.Latency.Max, p.Probe.P99,
				p.Deliveries, p.DeliveriesPerSecond, p.CPUMicrosPerDelivery, float64(p.RSSBefore)/(1<<20), float64(p.RSSPeak)/(1<<20), formatCloses(p.Closes))
		}
	}
	if r.Cluster != "" && len(r.Phases) > 0 {
		clusterTable(b, r.Phases)
	}
	r.markdownAgents(b)
	r.markdownLost(b)
	if len(r.Preflight) > 0 {
		fmt.Fprintf(b, "\nPreflight (what this box lacks for a run of this size):\n\n")
		for _, n := range r.Preflight {
			fmt.Fprintf(b, "- %s\n", n)
		}
	}
}

// formatCloses writes close codes and counts as "1000 × 12, 1013 × 298",
// by code, or "none".
func formatCloses(m map[int]int) string {
	codes := make([]int, 0, len(m))
	for c, n := range m {
		if n > 0 {
			codes = append(codes, c)
		}
	}
	if len(codes) == 0 {
		return "none"
	}
	slices.Sort(codes)
	parts := make([]string, len(codes))
	for i, c := range codes {
		parts[i] = fmt.Sprintf("%d × %d", c, m[c])
	}
	return strings.Join(parts, ", ")
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

// memoryDefinition is the one-line definition of the memory figure that
// follows a report's table.
func memoryDefinition(controlNoFile int) string {
	return fmt.Sprintf("Server memory per connection = (anonymous RSS of the servers holding N connections − servers × that of a control "+
		"server started with them the same way but with an open-files limit of %d, holding none) ÷ N, every reading right after the "+
		"server ran a full garbage collection (POST /debug/gc). Each server's open-files limit is its share of the connections plus 256, "+
		"so its fd-indexed tables are those of a server sized for them. The rest is runtime structures, heap fragmentation and buffers "+
		"touched once.", controlNoFile)
}
