package sysctl

import (
	"errors"
	"fmt"
	"io/fs"
	"strconv"
)

// Status is the verdict on one row.
type Status string

// The verdicts of a Row.
const (
	StatusOK      Status = "ok"      // the live value is enough for N
	StatusShort   Status = "short"   // the live value is not enough for N
	StatusUnknown Status = "unknown" // the live value could not be read
)

// Row is one line of the check: a key, its live value, what N connections
// need, the verdict and, when short or unknown, one sentence saying what to
// change. A Row is a plain value.
type Row struct {
	Key     string `json:"key"`
	Current string `json:"current"`
	Needed  string `json:"needed"`
	Status  Status `json:"status"`
	Fix     string `json:"fix,omitempty"`
}

// Short reports whether the row falls short of the target.
func (r Row) Short() bool { return r.Status == StatusShort }

// Check reads the live values under env and returns one row per setting a
// box of the given role needs for conns connections. It fails only on bad
// arguments; a value it cannot read becomes a StatusUnknown row.
func Check(env Env, conns int, role Role) ([]Row, error) {
	if err := role.validate(); err != nil {
		return nil, err
	}
	if conns <= 0 {
		return nil, fmt.Errorf("%w: got %d", ErrBadConns, conns)
	}
	rows := []Row{env.checkNoFile(conns), env.checkMemory(conns), env.checkCgroup(conns)}
	for _, s := range specs {
		if s.hasRole(role) {
			rows = append(rows, env.checkKey(s, conns, role))
		}
	}
	return rows, nil
}

func (e Env) checkNoFile(n int) Row {
	need := NeededNoFile(n)
	r := Row{Key: keyNoFile, Needed: neededNoFile(n)}
	l, err := e.noFile()
	if err != nil {
		r.Current, r.Status = "unreadable", StatusUnknown
		r.Fix = fmt.Sprintf("Cannot read the open-files limit (%v); check it with `ulimit -Hn`.", err)
		return r
	}
	r.Current = formatLimit(l.Max)
	if l.Cur != l.Max {
		r.Current += " (soft " + formatLimit(l.Cur) + ")"
	}
	// Why the hard limit: Go raises the soft limit to the hard one when the
	// os package starts (Go 1.19+), so the hard limit is what c1m gets.
	if l.Max >= need {
		r.Status = StatusOK
		return r
	}
	r.Status = StatusShort
	r.Fix = fmt.Sprintf("Raise the open-files hard limit to %d or more with LimitNOFILE= in c1m.service (nofile in /etc/security/limits.d/c1m.conf for login shells), keeping fs.nr_open at least as high.", need)
	return r
}

func formatLimit(v uint64) string {
	if v == rlimInfinity {
		return "unlimited"
	}
	return strconv.FormatUint(v, 10)
}

func (e Env) checkMemory(n int) Row {
	need := NeededMemory(n)
	r := Row{Key: keyMemAvailable, Needed: neededMemory(n)}
	avail, err := e.memAvailable()
	if err != nil {
		r.Current, r.Status = "unreadable", StatusUnknown
		r.Fix = fmt.Sprintf("Cannot read free memory (%v).", err)
		return r
	}
	r.Current = humanBytes(avail)
	if avail >= need {
		r.Status = StatusOK
		return r
	}
	r.Status = StatusShort
	r.Fix = fmt.Sprintf("Free or add memory, or lower the target: each connection needs about %d B (%d B kernel, %d B user space) plus %d%% headroom.",
		KernelBytesPerConn+UserBytesPerConn, KernelBytesPerConn, UserBytesPerConn, MemHeadroomPercent)
	return r
}

func (e Env) checkCgroup(n int) Row {
	need := NeededMemory(n)
	r := Row{Key: keyCgroupMemory, Needed: neededMemory(n)}
	lim, found, err := e.cgroupMemLimit()
	switch {
	case err != nil:
		r.Current, r.Status = "unreadable", StatusUnknown
		r.Fix = fmt.Sprintf("Cannot read the cgroup memory limit (%v).", err)
	case !found:
		r.Current, r.Status = "no limit file", StatusOK
	case lim.unlimited:
		r.Current, r.Status = "max"+lim.version(), StatusOK
	case lim.bytes >= need:
		r.Current, r.Status = humanBytes(lim.bytes)+lim.version(), StatusOK
	default:
		r.Current, r.Status = humanBytes(lim.bytes)+lim.version(), StatusShort
		r.Fix = fmt.Sprintf("Raise the cgroup memory limit to %s or more, e.g. MemoryMax= in c1m.service or the container's memory limit.", humanBytes(need))
	}
	return r
}

func (e Env) checkKey(s spec, n int, role Role) Row {
	want := s.need(n, e.pageSize())
	r := Row{Key: s.key, Needed: s.neededFor(n, e.pageSize())}
	var ok bool
	cur, err := e.readKey(s.key)
	if err == nil && s.judge != nil {
		ok, _ = s.judge(cur, n)
	} else if err == nil {
		ok = s.better(cur, want)
	}
	switch {
	case errors.Is(err, fs.ErrNotExist) && s.optional:
		r.Current, r.Needed, r.Status = "not loaded", "-", StatusOK
	case errors.Is(err, fs.ErrNotExist):
		r.Current, r.Status = "absent", StatusUnknown
		r.Fix = fmt.Sprintf("This kernel has no %s; nothing to set.", s.key)
	case err != nil:
		r.Current, r.Status = "unreadable", StatusUnknown
		r.Fix = fmt.Sprintf("Cannot read %s (%v).", s.key, err)
	case ok:
		r.Current, r.Status = formatFields(cur), StatusOK
	default:
		r.Current, r.Status = formatFields(cur), StatusShort
		r.Fix = s.fix(want, role)
		if s.judge != nil {
			r.Fix = fmt.Sprintf("Widen %s to %s and spread the connections over at least %d source address(es): run `c1m sysctl apply --role %s`.",
				s.key, formatFields(s.need(n, 0)), NeededSources(n), s.roleFor(role))
		}
	}
	return r
}
