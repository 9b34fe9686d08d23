package sysctl

import "errors"

// Sentinel errors; test with errors.Is.
var (
	// ErrUnknownRole is returned for a Role other than RoleServer and RoleLoadgen.
	ErrUnknownRole = errors.New("sysctl: unknown role")
	// ErrBadConns is returned when the connection target is not positive.
	ErrBadConns = errors.New("sysctl: connection target must be positive")
	// ErrBadProfile is returned for a profile line that does not parse.
	ErrBadProfile = errors.New("sysctl: malformed profile line")
	// ErrUnknownKey is returned when a profile holds a key the checker does not know.
	ErrUnknownKey = errors.New("sysctl: key not in the checker's table")
	// ErrNoBackup is returned by Revert when apply left no backup to restore.
	ErrNoBackup = errors.New("sysctl: no backup to revert")
	// ErrFakeLimits is returned when a fake Root is set and no fake SetNoFile:
	// apply then refuses to touch this process's real limits.
	ErrFakeLimits = errors.New("sysctl: limits are fake under a test root")
)

// ErrBadPlan is returned by ComputePlan and ParseRoomSizes for an input
// the capacity model cannot use; the message says which and why.
var ErrBadPlan = errors.New("sysctl: bad plan input")
