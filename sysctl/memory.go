package sysctl

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"path"
	"strconv"
	"strings"
)

// memAvailable returns MemAvailable from /proc/meminfo in bytes: what can
// be allocated without swapping (proc_meminfo(5)).
func (e Env) memAvailable() (uint64, error) {
	b, err := os.ReadFile(e.path("/proc/meminfo"))
	if err != nil {
		return 0, fmt.Errorf("cannot read /proc/meminfo: %w", err)
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		rest, ok := strings.CutPrefix(sc.Text(), "MemAvailable:")
		if !ok {
			continue
		}
		f := strings.Fields(rest)
		if len(f) == 2 && f[1] == "kB" {
			kb, err := strconv.ParseUint(f[0], 10, 64)
			if err == nil {
				return kb * 1024, nil
			}
		}
		break
	}
	return 0, fmt.Errorf("cannot parse /proc/meminfo: no valid MemAvailable line")
}

// cgroupLimit is the memory limit of this process's cgroup.
type cgroupLimit struct {
	file      string // the file it came from, relative to Root
	bytes     uint64
	unlimited bool
}

// cgroupMemLimit returns the tightest memory limit over this process's
// cgroup and its ancestors: memory.max on cgroup v2 (cgroups(7); the root
// cgroup has none), memory.limit_in_bytes on v1. found is false when no
// limit file exists, i.e. no memory controller limits this process.
func (e Env) cgroupMemLimit() (lim cgroupLimit, found bool, err error) {
	v2, v1 := "/", "/"
	if b, err := os.ReadFile(e.path("/proc/self/cgroup")); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			f := strings.SplitN(line, ":", 3)
			if len(f) != 3 {
				continue
			}
			switch {
			case f[0] == "0" && f[1] == "":
				v2 = f[2]
			case hasController(f[1], "memory"):
				v1 = f[2]
			}
		}
	}
	lim, found, err = e.walkCgroup("/sys/fs/cgroup", v2, "memory.max")
	if found || err != nil {
		return lim, found, err
	}
	return e.walkCgroup("/sys/fs/cgroup/memory", v1, "memory.limit_in_bytes")
}

func hasController(list, c string) bool {
	for _, x := range strings.Split(list, ",") {
		if x == c {
			return true
		}
	}
	return false
}

// walkCgroup reads name in dir and each ancestor up to the mount point and
// keeps the smallest limit.
func (e Env) walkCgroup(mount, dir, name string) (cgroupLimit, bool, error) {
	var best cgroupLimit
	found := false
	for d := path.Clean("/" + dir); ; d = path.Dir(d) {
		file := path.Join(mount, d, name)
		b, err := os.ReadFile(e.path(file))
		if err == nil {
			l, err := parseCgroupLimit(strings.TrimSpace(string(b)))
			if err != nil {
				return cgroupLimit{}, false, fmt.Errorf("cannot parse %s: %w", file, err)
			}
			l.file = file
			if !found || (!l.unlimited && (best.unlimited || l.bytes < best.bytes)) {
				best = l
			}
			found = true
		}
		if d == "/" {
			return best, found, nil
		}
	}
}

// version names the cgroup hierarchy the limit came from, for the row.
func (l cgroupLimit) version() string {
	if strings.HasSuffix(l.file, "memory.limit_in_bytes") {
		return " (cgroup v1)"
	}
	return " (cgroup v2)"
}

func parseCgroupLimit(s string) (cgroupLimit, error) {
	if s == "max" {
		return cgroupLimit{unlimited: true}, nil
	}
	v, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		return cgroupLimit{}, err
	}
	// cgroup v1 reports "no limit" as the largest page-aligned int64.
	if v >= 1<<62 {
		return cgroupLimit{unlimited: true}, nil
	}
	return cgroupLimit{bytes: v}, nil
}

// humanBytes renders b in binary units with one decimal.
func humanBytes(b uint64) string {
	const unit = 1024
	if b < unit {
		return strconv.FormatUint(b, 10) + " B"
	}
	div, exp := uint64(unit), 0
	for n := b / unit; n >= unit && exp < 4; n /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(b)/float64(div), "KMGTP"[exp])
}
