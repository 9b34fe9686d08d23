package bench

import (
	"fmt"

	"c1m/sysctl"
)

// Preflight checks this box against the run: it refuses a run that cannot
// fit in memory, and returns one sentence per other shortfall (open
// files, port range, somaxconn, conntrack) from the tuning kit's check.
func Preflight(cfg *Config) ([]string, error) {
	m, err := ReadMemInfo()
	if err != nil {
		return nil, err
	}
	// Both ends of every connection opened here live on this box: two
	// kernel sockets (about 4.8 KB each, measured) and two user-space
	// states (the server's ≤ 256 B, the worker's about 1 KB with its
	// buffers), plus a fixed margin for the processes themselves.
	// Agents' connections have only their server end here.
	local := cfg.localShare()
	need := int64(cfg.Conns+local)*(4800+640) + int64(cfg.Servers+cfg.Workers)*24<<20 + 256<<20
	if need > m.Available {
		return nil, fmt.Errorf("cannot run %d connections: they need about %d MiB and %d MiB are available; lower --conns", cfg.Conns, need>>20, m.Available>>20)
	}
	var notes []string
	// Each process holds its share: the per-process checks (open files)
	// use the per-server and per-worker counts. The worker picks its own
	// source ports, so ip_local_port_range does not limit it.
	perServer := (cfg.Conns + max(cfg.Servers, 1) - 1) / max(cfg.Servers, 1)
	perWorker := (local + max(cfg.Workers, 1) - 1) / max(cfg.Workers, 1)
	roles := []struct {
		r     sysctl.Role
		conns int
	}{{sysctl.RoleServer, perServer}, {sysctl.RoleLoadgen, perWorker}}
	if local == 0 {
		roles = roles[:1] // the agents check their own
	}
	for _, role := range roles {
		rows, err := sysctl.Check(sysctl.Env{}, role.conns, role.r)
		if err != nil {
			return nil, err
		}
		for _, row := range rows {
			if !row.Short() {
				continue
			}
			switch row.Key {
			case "RLIMIT_NOFILE (hard)", "fs.nr_open", "fs.file-max", "net.core.somaxconn",
				"net.netfilter.nf_conntrack_max":
				notes = append(notes, fmt.Sprintf("%s (%s per %s process): %s", row.Key, row.Current, role.r, row.Fix))
			}
		}
	}
	return notes, nil
}
