// Package sysctl is the tuning kit: the kernel, limits and systemd profiles a
// box needs to hold about a million mostly idle connections, a checker that
// says in plain words what the live box lacks for a connection target, and an
// applier that fixes what it may and reports what it may not.
//
// The profiles are embedded (see Profiles) and shipped byte for byte under
// deploy/. Check computes each needed value from the connection target N
// rather than quoting the profile, so it answers "is this box enough for N".
// Apply writes the profile to a sysctl.d directory and through /proc/sys,
// never loosening a value that is already better, and keeps a backup that
// Revert restores.
//
// ComputePlan is the capacity model behind c1m plan: from connections,
// rooms, publishes and message size it computes deliveries, bandwidth,
// memory, CPU, boxes and the slowest broadcast from costs measured with
// c1m bench (PlanConstants lists them with their sources), and the sysctl
// values per box through Needs, which shares its functions with Check.
//
// Nothing here holds state between calls; every function may be called from
// any goroutine, but two Apply or Revert calls on the same directory must not
// run at once (they share one backup file).
//
// Usage at server start-up:
//
//	rows, err := sysctl.Check(sysctl.Env{}, maxConns, sysctl.RoleServer)
//	if err != nil {
//		return fmt.Errorf("cannot check the kernel settings: %w", err)
//	}
//	for _, r := range rows {
//		if r.Short() {
//			log.Printf("warning: %s is %s, %d connections need %s: %s", r.Key, r.Current, maxConns, r.Needed, r.Fix)
//		}
//	}
package sysctl
