package sysctl

import (
	"bufio"
	"bytes"
	"fmt"
	"strconv"
	"strings"
)

// LimitEntry is one line of a limits.conf(5) file.
type LimitEntry struct {
	Domain string // "*", a user, "@group"
	Type   string // "soft", "hard" or "-" for both
	Item   string // "nofile", "nproc", ...
	Value  uint64
}

// ParseLimitsConf parses a limits.conf(5) file: "domain type item value"
// lines and "#" comments. "unlimited" and "infinity" parse as RLIM_INFINITY.
func ParseLimitsConf(data []byte) ([]LimitEntry, error) {
	var out []LimitEntry
	sc := bufio.NewScanner(bytes.NewReader(data))
	for n := 1; sc.Scan(); n++ {
		line, _, _ := strings.Cut(sc.Text(), "#")
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		if len(f) != 4 {
			return nil, fmt.Errorf("%w %d: %q", ErrBadProfile, n, sc.Text())
		}
		e := LimitEntry{Domain: f[0], Type: f[1], Item: f[2]}
		switch f[3] {
		case "unlimited", "infinity":
			e.Value = rlimInfinity
		default:
			v, err := strconv.ParseUint(f[3], 10, 64)
			if err != nil {
				return nil, fmt.Errorf("%w %d: %q", ErrBadProfile, n, sc.Text())
			}
			e.Value = v
		}
		out = append(out, e)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("cannot read limits.d file: %w", err)
	}
	return out, nil
}

// profileNoFile is the hard nofile of the bundled limits.d profile: the
// open-files limit Apply tries to give its own process.
func profileNoFile() (uint64, error) {
	entries, err := ParseLimitsConf(LimitsProfile())
	if err != nil {
		return 0, err
	}
	for _, e := range entries {
		if e.Item == "nofile" && (e.Type == "hard" || e.Type == "-") {
			return e.Value, nil
		}
	}
	return 0, fmt.Errorf("%w: limits.d/c1m.conf has no hard nofile", ErrBadProfile)
}
