package bench

import (
	"bufio"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"time"
)

// ServerSample is one server process's resources at one moment.
type ServerSample struct {
	PID        int     `json:"pid"`
	RSS        int64   `json:"rss_bytes"`
	CPUSeconds float64 `json:"cpu_seconds"`
}

func sampleServers(servers []*serverProc) ([]ServerSample, error) {
	var out []ServerSample
	for _, s := range servers {
		pid := s.cmd.Process.Pid
		rss, err := ProcRSS(pid)
		if err != nil {
			return nil, err
		}
		cpu, err := ProcCPUSeconds(pid)
		if err != nil {
			return nil, err
		}
		out = append(out, ServerSample{PID: pid, RSS: rss, CPUSeconds: cpu})
	}
	return out, nil
}

func sumRSS(servers []*serverProc) int64 {
	var t int64
	for _, s := range servers {
		if v, err := ProcRSS(s.cmd.Process.Pid); err == nil {
			t += v
		}
	}
	return t
}

func sumCPU(servers []*serverProc) float64 {
	var t float64
	for _, s := range servers {
		if v, err := ProcCPUSeconds(s.cmd.Process.Pid); err == nil {
			t += v
		}
	}
	return t
}

// ParseMetrics reads Prometheus text: every sample line becomes series →
// value, the series being the name with its labels as written
// (`c1m_x{reason="y"}`). Comments and blank lines are skipped. On a line
// it cannot read it returns what it has so far and an error naming it.
func ParseMetrics(r io.Reader) (map[string]float64, error) {
	m := map[string]float64{}
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		if i < 0 {
			return m, fmt.Errorf("cannot parse metrics line %q: no value", line)
		}
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			return m, fmt.Errorf("cannot parse metrics line %q: %w", line, err)
		}
		m[line[:i]] = v
	}
	if err := sc.Err(); err != nil {
		return m, fmt.Errorf("cannot read metrics: %w", err)
	}
	return m, nil
}

// scrapeMetrics sums the c1m_* series of every server's /metrics (other
// series are per process and left out, and so are histogram buckets).
// Labels stay in the key.
func scrapeMetrics(servers []*serverProc) map[string]float64 {
	out := map[string]float64{}
	client := http.Client{Timeout: 5 * time.Second}
	for _, s := range servers {
		resp, err := client.Get(s.metricsURL())
		if err != nil {
			continue
		}
		m, _ := ParseMetrics(resp.Body)
		resp.Body.Close()
		for k, v := range m {
			if strings.HasPrefix(k, "c1m_") && !strings.Contains(k, "_bucket{") && !strings.Contains(k, "vmrange") {
				out[k] += v
			}
		}
	}
	return out
}

func formatSources(s []netip.Addr) string {
	parts := make([]string, len(s))
	for i, a := range s {
		parts[i] = a.String()
	}
	return strings.Join(parts, ",")
}
