package sysctl

import (
	"fmt"
	"strconv"
)

// The keys of Check's rows that are not /proc/sys keys.
const (
	keyNoFile       = "RLIMIT_NOFILE (hard)"
	keyMemAvailable = "MemAvailable"
	keyCgroupMemory = "cgroup memory.max"
)

// Need is one setting and what a connection target needs of it: the KEY
// and NEEDED columns of Check, without reading any box. A plain value.
type Need struct {
	Key    string `json:"key"`
	Needed string `json:"needed"`
}

// Needs returns what a box of the given role needs for conns connections,
// one Need per row of Check and in Check's order, computed by the same
// functions Check uses, for a box whose pages are pageSize bytes (the unit
// of net.ipv4.tcp_mem). It reads nothing, so it also answers for a box
// that does not exist yet (c1m plan). It fails only on bad arguments.
func Needs(conns int, role Role, pageSize int) ([]Need, error) {
	if err := role.validate(); err != nil {
		return nil, err
	}
	if conns <= 0 {
		return nil, fmt.Errorf("%w: got %d", ErrBadConns, conns)
	}
	if pageSize <= 0 {
		return nil, fmt.Errorf("cannot compute needs: page size must be positive, got %d", pageSize)
	}
	out := []Need{
		{keyNoFile, neededNoFile(conns)},
		{keyMemAvailable, neededMemory(conns)},
		{keyCgroupMemory, neededMemory(conns)},
		{keyEHash, neededEHash(conns)},
	}
	for _, s := range specs {
		if s.hasRole(role) {
			out = append(out, Need{s.key, s.neededFor(conns, pageSize)})
		}
	}
	return out, nil
}

// neededNoFile is the NEEDED cell of the open-files row.
func neededNoFile(n int) string { return ">= " + strconv.FormatUint(NeededNoFile(n), 10) }

// neededMemory is the NEEDED cell of the memory rows.
func neededMemory(n int) string { return ">= " + humanBytes(NeededMemory(n)) }

// neededFor is the NEEDED cell of a /proc/sys key for n connections. A
// judged key's text does not depend on the live value.
func (s spec) neededFor(n, pageSize int) string {
	if s.judge != nil {
		_, needed := s.judge(nil, n)
		return needed
	}
	return s.neededString(s.need(n, pageSize))
}
