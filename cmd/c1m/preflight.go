package main

import (
	"log/slog"

	"c1m/sysctl"
)

// preflight runs the tuning kit's check for maxConns on the live machine
// and logs one warning line per shortfall, with the fix in words. It never
// stops the server: a box short of its target still serves what it can.
func preflight(log *slog.Logger, maxConns int) { preflightEnv(log, sysctl.Env{}, maxConns) }

// preflightEnv is preflight on the box env stands for (a fake root in
// tests). Every row it can warn about is a setting that acts on c1m's own
// sockets or limits: the check leaves out what an operator could change
// for no effect (the keepalive timers, sysctl/keys.go).
func preflightEnv(log *slog.Logger, env sysctl.Env, maxConns int) {
	rows, err := sysctl.Check(env, maxConns, sysctl.RoleServer)
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
