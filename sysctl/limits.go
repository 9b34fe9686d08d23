package sysctl

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"
)

// noFile returns RLIMIT_NOFILE: the fake one, the one in a fake tree's
// proc/self/limits, or the real one.
func (e Env) noFile() (Rlimit, error) {
	if e.NoFile != nil {
		return *e.NoFile, nil
	}
	if e.Root == "" {
		return getNoFile()
	}
	b, err := os.ReadFile(e.path("/proc/self/limits"))
	if err != nil {
		return Rlimit{}, fmt.Errorf("cannot read the open-files limit: %w", err)
	}
	return parseProcLimits(b)
}

// parseProcLimits reads the "Max open files" line of /proc/PID/limits
// (proc_pid_limits(5)): name, soft, hard, units.
func parseProcLimits(b []byte) (Rlimit, error) {
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		line := sc.Text()
		rest, ok := strings.CutPrefix(line, "Max open files")
		if !ok {
			continue
		}
		f := strings.Fields(rest)
		if len(f) < 2 {
			break
		}
		soft, err1 := parseLimit(f[0])
		hard, err2 := parseLimit(f[1])
		if err1 != nil || err2 != nil {
			break
		}
		return Rlimit{Cur: soft, Max: hard}, nil
	}
	return Rlimit{}, fmt.Errorf("cannot parse the open-files limit: no valid \"Max open files\" line")
}

func parseLimit(s string) (uint64, error) {
	if s == "unlimited" {
		return rlimInfinity, nil
	}
	return strconv.ParseUint(s, 10, 64)
}

// setNoFile raises this process's RLIMIT_NOFILE, the only process a
// setrlimit(2) caller may change.
func (e Env) setNoFile(l Rlimit) error {
	if e.SetNoFile != nil {
		return e.SetNoFile(l)
	}
	if e.Root != "" {
		return ErrFakeLimits
	}
	return setNoFile(l)
}
