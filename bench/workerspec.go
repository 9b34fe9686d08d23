package bench

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// WorkerSpec is what the orchestrator asks of one worker process, local or
// on an agent: its share of the connections, the targets and the
// scenarios' settings. The host that runs it adds what only it knows (its
// source addresses and ports) and turns both into the flags of `c1m bench
// worker` (args). A WorkerSpec is a plain value; it travels to agents as
// JSON.
type WorkerSpec struct {
	Targets []string `json:"targets"` // ws:// URLs
	Conns   int      `json:"conns"`
	First   int      `json:"first"` // global index of its first connection
	Total   int      `json:"total"` // connections over every host
	// EndpointFirst and EndpointTotal place its connections among its
	// host's source addresses and ports (WorkerConfig.EndpointFirst).
	EndpointFirst int     `json:"endpoint_first"`
	EndpointTotal int     `json:"endpoint_total"`
	Probes        int     `json:"probes"`
	Rate          int     `json:"rate,omitempty"`
	InFlight      int     `json:"in_flight"`
	Retries       int     `json:"retries"`
	SlowFraction  float64 `json:"slow_fraction,omitempty"`
	// ClockOffset is the host's clock minus the orchestrator's, ns.
	ClockOffset int64 `json:"clock_offset_ns,omitempty"`
	// HostWorkers is how many worker processes its host runs in this run:
	// with more than the host has cores, each gets GOMAXPROCS=1 (childEnv).
	HostWorkers int `json:"host_workers"`
	// JWT carries the run's token key to an agent, sealed (agentSeal);
	// local workers get it in their environment or as a file instead.
	JWT *sealedJWT `json:"jwt,omitempty"`
}

// Limits of a spec an agent accepts.
const (
	maxSpecTargets = 4096
	maxSpecRetries = 100 // attempts count in a uint8
)

// validate checks a spec from the network before an agent runs it.
func (s WorkerSpec) validate() error {
	switch {
	case s.Conns < 1:
		return fmt.Errorf("cannot run a worker of %d connections", s.Conns)
	case len(s.Targets) == 0 || len(s.Targets) > maxSpecTargets:
		return fmt.Errorf("cannot run a worker with %d targets: want 1 to %d", len(s.Targets), maxSpecTargets)
	case s.First < 0 || s.Total < s.First+s.Conns:
		return fmt.Errorf("cannot run connections %d-%d of %d", s.First, s.First+s.Conns-1, s.Total)
	case s.EndpointFirst < 0 || s.EndpointTotal < s.EndpointFirst+s.Conns:
		return fmt.Errorf("cannot place connections %d-%d of the host's %d", s.EndpointFirst, s.EndpointFirst+s.Conns-1, s.EndpointTotal)
	case s.Probes < 0 || s.Rate < 0 || s.InFlight < 0 || s.Retries < 0 || s.Retries > maxSpecRetries:
		return fmt.Errorf("cannot run a worker with probes %d, rate %d, in-flight %d, retries %d", s.Probes, s.Rate, s.InFlight, s.Retries)
	case s.SlowFraction < 0 || s.SlowFraction >= 1:
		return fmt.Errorf("cannot run a worker with slow fraction %g: want 0 to 1", s.SlowFraction)
	}
	for _, t := range s.Targets {
		if _, err := ParseTarget(t); err != nil {
			return err
		}
	}
	return nil
}

// args are the `c1m bench worker` flags for the spec (after "bench
// worker"), with the host's source addresses and, when not empty, its
// source-port range ("lo-hi"). Every worker waits for "start" once its
// tokens are minted, so that the ramp is timed from the moment all of them
// are ready.
func (s WorkerSpec) args(sources, ports string) []string {
	a := []string{"--conns", strconv.Itoa(s.Conns), "--first", strconv.Itoa(s.First),
		"--total", strconv.Itoa(s.Total), "--probes", strconv.Itoa(s.Probes),
		"--targets", strings.Join(s.Targets, ","), "--sources", sources,
		"--endpoint-first", strconv.Itoa(s.EndpointFirst), "--endpoint-total", strconv.Itoa(s.EndpointTotal)}
	if ports != "" {
		a = append(a, "--ports", ports)
	}
	if s.Rate > 0 {
		a = append(a, "--rate", strconv.Itoa(s.Rate))
	}
	a = append(a, "--in-flight", strconv.Itoa(s.InFlight), "--retries", strconv.Itoa(s.Retries))
	if s.SlowFraction > 0 {
		a = append(a, "--slow-fraction", strconv.FormatFloat(s.SlowFraction, 'g', -1, 64))
	}
	if s.ClockOffset != 0 {
		a = append(a, "--clock-offset", time.Duration(s.ClockOffset).String())
	}
	return append(a, "--wait-start")
}

// ParsePorts parses a source-port range "lo-hi" (1-65535).
func ParsePorts(s string) (lo, hi int, err error) {
	a, b, ok := strings.Cut(s, "-")
	lo, err1 := strconv.Atoi(a)
	hi, err2 := strconv.Atoi(b)
	if !ok || err1 != nil || err2 != nil || lo < 1 || hi > 65535 || hi < lo {
		return 0, 0, fmt.Errorf("cannot use source ports %q: want lo-hi within 1-65535", s)
	}
	return lo, hi, nil
}

// portsAround is the source-port range of an agent's workers: the
// default range, less the side of it below or above the agent's own
// listening port (whichever is smaller), since no socket may bind the
// port a listener holds.
func portsAround(listen int) (lo, hi int) {
	lo, hi = DefaultPortBase, DefaultPortMax
	switch {
	case listen < lo || listen > hi:
		return lo, hi
	case listen-lo >= hi-listen:
		return lo, listen - 1
	}
	return listen + 1, hi
}
