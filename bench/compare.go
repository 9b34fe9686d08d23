package bench

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	"c1m/sysctl"
)

// Comparison is the report of a --compare run: the same workers and
// scenarios against each server in turn, side by side, with each measure's
// ratio to the floor. It is written as report.json, report.md and SVG
// charts with one line per server.
type Comparison struct {
	Command string   `json:"command"`
	Machine Machine  `json:"machine"`
	Start   string   `json:"start"`
	Servers []string `json:"servers"` // in the order they ran
	// Floor is the server the ratios are taken against: raw when it ran,
	// else the first.
	Floor string       `json:"floor"`
	Rows  []CompareRow `json:"rows"`
	Runs  []*Report    `json:"runs"` // one full report per server, in Servers order
	Notes []string     `json:"notes,omitempty"`
}

// CompareRow is one measure across the servers.
type CompareRow struct {
	Measure string    `json:"measure"`
	Unit    string    `json:"unit"`
	Values  []float64 `json:"values"` // per server, in Servers order
	// Ratios are each value ÷ the floor's (1 for the floor), in Servers
	// order; 0 where the floor's value is 0 or the row has no ratio.
	Ratios []float64 `json:"ratios,omitempty"`
}

// errCompareTargets refuses --compare with --target.
var errCompareTargets = errors.New("cannot compare servers that are already running (--target): the orchestrator starts each server in turn")

// RunCompare runs each server of cfg.Compare in turn, with the same
// workers and scenarios, and writes one report to cfg.Out. When a run
// lost workers mid-way it still writes the report and returns it with an
// error wrapping ErrWorkersLost. Each run has
// its own ports (BasePort moves up by the ports a run uses), so no client
// socket of a run in TIME_WAIT meets the next run's server.
func RunCompare(ctx context.Context, cfg Config) (*Comparison, error) {
	if len(cfg.Targets) > 0 {
		return nil, errCompareTargets
	}
	limit, err := sysctl.RaiseFileLimit()
	if err != nil {
		return nil, err
	}
	// Check every run's configuration before the first starts.
	var ports int
	for _, name := range cfg.Compare {
		c := cfg
		c.Compare, c.Server = nil, name
		if err := c.defaults(); err != nil {
			return nil, fmt.Errorf("cannot compare on the %s server: %w", name, err)
		}
		if err := c.plan(limit); err != nil {
			return nil, err
		}
		ports = c.serverPorts() + 3 // and the control server's (memory.go)
	}
	base := cfg.BasePort
	if base == 0 {
		base = defaultBasePort
	}
	comp := &Comparison{Command: cfg.Command, Servers: cfg.Compare, Floor: cfg.Compare[0]}
	var lost error
	if slices.Contains(cfg.Compare, ServerRaw) {
		comp.Floor = ServerRaw
	}
	for i, name := range cfg.Compare {
		if ctx.Err() != nil {
			return nil, fmt.Errorf("cannot finish the comparison: %w", ctx.Err())
		}
		c := cfg
		c.Compare, c.Server = nil, name
		c.BasePort = base + i*ports
		if c.Progress != nil {
			fmt.Fprintf(c.Progress, "== %s (%d of %d) ==\n", name, i+1, len(cfg.Compare))
		}
		rep, err := run(ctx, c)
		if rep == nil {
			return nil, fmt.Errorf("cannot run the %s server: %w", name, err)
		}
		if err != nil && lost == nil {
			lost = fmt.Errorf("the %s server's run: %w", name, err) // ErrWorkersLost
		}
		comp.Runs = append(comp.Runs, rep)
	}
	comp.Machine, comp.Start = comp.Runs[0].Machine, comp.Runs[0].Start
	comp.Rows = compareRows(comp.Runs, slices.Index(comp.Servers, comp.Floor))
	if a := comp.Runs[0].Auth; a != "" && a != "none" {
		comp.Notes = append(comp.Notes, "Every run's clients sent a "+a+" token per connection; only c1m verifies it (the floor and the baseline ignore the subprotocol), so c1m's ratios include the verification.")
	}
	if err := comp.write(cfg.Out); err != nil {
		return comp, err
	}
	return comp, lost
}

// measure reads one value of a run; ok false when the run has none.
type measure struct {
	name, unit string
	noRatio    bool
	get        func(r *Report) (float64, bool)
}

// bcast reads a value of the run's broadcast phase.
func bcast(f func(p *PhaseResult) float64) func(r *Report) (float64, bool) {
	return func(r *Report) (float64, bool) {
		if p := r.broadcastPhase(); p != nil {
			return f(p), true
		}
		return 0, false
	}
}

// mem reads a part of the run's memory per connection.
func mem(f func(m *Memory) float64) func(r *Report) (float64, bool) {
	return func(r *Report) (float64, bool) {
		if r.Memory != nil {
			return f(r.Memory), true
		}
		return 0, false
	}
}

func always(f func(r *Report) float64) func(r *Report) (float64, bool) {
	return func(r *Report) (float64, bool) { return f(r), true }
}

var compareMeasures = []measure{
	{name: "connections held", unit: "", noRatio: true, get: always(func(r *Report) float64 { return float64(r.Held) })},
	{name: "ramp", unit: "s", get: always(func(r *Report) float64 { return r.RampSeconds })},
	{name: "connection set-up rate", unit: "/s", get: always(func(r *Report) float64 { return r.ConnRate })},
	{name: "server memory per connection", unit: "B", get: always(func(r *Report) float64 { return r.ServerBytesPerConn })},
	{name: "… of which fd-indexed tables", unit: "B", noRatio: true, get: mem(func(m *Memory) float64 { return m.Tables })},
	{name: "… of which heap objects", unit: "B", noRatio: true, get: mem(func(m *Memory) float64 { return m.Heap })},
	{name: "… of which goroutine stacks", unit: "B", noRatio: true, get: mem(func(m *Memory) float64 { return m.Stacks })},
	{name: "… of which the rest", unit: "B", noRatio: true, get: mem(func(m *Memory) float64 { return m.Rest })},
	{name: "server RSS at full count", unit: "MiB", get: always(func(r *Report) float64 {
		var t int64
		for _, s := range r.After {
			t += s.RSS
		}
		return float64(t) / (1 << 20)
	})},
	{name: "broadcast latency p50", unit: "ms", get: bcast(func(p *PhaseResult) float64 { return p.Latency.P50 })},
	{name: "broadcast latency p99", unit: "ms", get: bcast(func(p *PhaseResult) float64 { return p.Latency.P99 })},
	{name: "broadcast latency max", unit: "ms", get: bcast(func(p *PhaseResult) float64 { return p.Latency.Max })},
	{name: "receivers that got every message", unit: "%", noRatio: true, get: bcast(func(p *PhaseResult) float64 { return 100 * p.Completeness })},
	{name: "server CPU per delivery", unit: "µs", get: bcast(func(p *PhaseResult) float64 { return p.CPUMicrosPerDelivery })},
	{name: "probe RTT p50 during the broadcasts", unit: "ms", get: bcast(func(p *PhaseResult) float64 { return p.Probe.P50 })},
	{name: "probe RTT p99 during the broadcasts", unit: "ms", get: bcast(func(p *PhaseResult) float64 { return p.Probe.P99 })},
}

// compareRows reads every measure that at least one run has, with ratios
// to runs[floor].
func compareRows(runs []*Report, floor int) []CompareRow {
	var rows []CompareRow
	for _, m := range compareMeasures {
		row := CompareRow{Measure: m.name, Unit: m.unit, Values: make([]float64, len(runs))}
		found := false
		for i, r := range runs {
			v, ok := m.get(r)
			row.Values[i] = v
			found = found || ok
		}
		if !found {
			continue
		}
		if !m.noRatio {
			row.Ratios = make([]float64, len(runs))
			if f := row.Values[floor]; f > 0 {
				for i, v := range row.Values {
					row.Ratios[i] = v / f
				}
			}
		}
		rows = append(rows, row)
	}
	return rows
}

func (c *Comparison) write(dir string) error {
	j, err := json.MarshalIndent(c, "", "  ")
	if err != nil {
		return fmt.Errorf("cannot encode report: %w", err)
	}
	return writeReportFiles(dir, append(j, '\n'), c.markdown(), reportCharts(c.Runs))
}

func (c *Comparison) markdown() string {
	var b strings.Builder
	r0 := c.Runs[0]
	fmt.Fprintf(&b, "# c1m bench: %s side by side, %d connections, %s\n\n", strings.Join(c.Servers, ", "), r0.Target, strings.Join(r0.Scenarios, ", "))
	fmt.Fprintf(&b, "Command: `%s`\n\n", c.Command)
	machineLine(&b, c.Machine, c.Start)
	fmt.Fprintf(&b, "Each server ran in turn, with %d server and %d worker processes and the same scenarios; ratios are each value ÷ the %s server's.\n\n",
		r0.Servers, r0.Workers, c.Floor)
	for _, n := range c.Notes {
		fmt.Fprintf(&b, "%s\n\n", n)
	}
	b.WriteString("| measure |")
	sep := "|---|"
	for _, s := range c.Servers {
		fmt.Fprintf(&b, " %s |", s)
		sep += "---|"
		if s != c.Floor {
			fmt.Fprintf(&b, " %s ÷ %s |", s, c.Floor)
			sep += "---|"
		}
	}
	b.WriteString("\n" + sep + "\n")
	for _, row := range c.Rows {
		fmt.Fprintf(&b, "| %s |", row.Measure)
		for i, s := range c.Servers {
			fmt.Fprintf(&b, " %s |", formatValue(row.Values[i], row.Unit))
			if s != c.Floor {
				fmt.Fprintf(&b, " %s |", formatRatio(row, i))
			}
		}
		b.WriteString("\n")
	}
	if m := r0.Memory; m != nil {
		fmt.Fprintf(&b, "\n%s Server RSS at full count is VmRSS after that collection.\n\n", memoryDefinition(m.ControlNoFile))
	}
	chartLinks(&b, reportCharts(c.Runs))
	for _, r := range c.Runs {
		fmt.Fprintf(&b, "## %s\n\n", r.serverName())
		r.markdownBody(&b)
		b.WriteString("\n")
	}
	return b.String()
}

// formatValue writes v in its unit, with the precision the unit needs.
func formatValue(v float64, unit string) string {
	switch unit {
	case "s":
		return fmt.Sprintf("%.2f s", v)
	case "/s":
		return fmt.Sprintf("%.0f /s", v)
	case "B":
		return fmt.Sprintf("%.0f B", v)
	case "MiB":
		return fmt.Sprintf("%.1f MiB", v)
	case "ms":
		return fmt.Sprintf("%.1f ms", v)
	case "µs":
		return fmt.Sprintf("%.2f µs", v)
	case "%":
		return fmt.Sprintf("%.2f %%", v)
	}
	return fmt.Sprintf("%.0f", v)
}

// formatRatio writes row.Ratios[i] as "1.23×", or "—" without one.
func formatRatio(row CompareRow, i int) string {
	if len(row.Ratios) == 0 || row.Ratios[i] == 0 {
		return "—"
	}
	return fmt.Sprintf("%.2f×", row.Ratios[i])
}
