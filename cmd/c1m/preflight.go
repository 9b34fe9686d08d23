package main

import (
	"log/slog"

	"c1m/sysctl"
)

// preflight runs the tuning kit's check for maxConns on the live machine
// and logs one warning line per shortfall, with the fix in words. It never
// stops the server: a box short of its target still serves what it can.
func preflight(log *slog.Logger, maxConns int) {
	rows, err := sysctl.Check(sysctl.Env{}, maxConns, sysctl.RoleServer)
	if err != nil {
		log.Warn("cannot run the start-up preflight", "err", err)
		return
	}
	for _, r := range rows {
		if r.Short() {
			log.Warn("preflight: "+r.Fix, "key", r.Key, "current", r.Current, "needed", r.Needed)
		}
	}
}
