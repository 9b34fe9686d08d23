package bench

import (
	"bufio"
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

// scrapeMetrics sums the c1m_* series of every server's /metrics (other
// series are per process and left out). Labels stay in the key.
func scrapeMetrics(servers []*serverProc) map[string]float64 {
	out := map[string]float64{}
	client := http.Client{Timeout: 5 * time.Second}
	for _, s := range servers {
		resp, err := client.Get(s.metricsURL())
		if err != nil {
			continue
		}
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			l := sc.Text()
			if !strings.HasPrefix(l, "c1m_") || strings.Contains(l, "_bucket{") || strings.Contains(l, "vmrange") {
				continue
			}
			i := strings.LastIndexByte(l, ' ')
			if i < 0 {
				continue
			}
			v, err := strconv.ParseFloat(l[i+1:], 64)
			if err != nil {
				continue
			}
			out[l[:i]] += v
		}
		resp.Body.Close()
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
