package sysctl

import (
	"bufio"
	"bytes"
	"fmt"
	"strings"
)

// Entry is one assignment in a sysctl.d file.
type Entry struct {
	Key   string
	Value string
	// IgnoreErrors is the leading "-" of sysctl.d(5): a failure to set the
	// key (say, the module is not loaded) is not an error.
	IgnoreErrors bool
	// Line is the 1-based line number, for error messages and rewriting.
	Line int
}

// ParseSysctlConf parses a file in sysctl.d(5) syntax: "key = value" lines,
// "#" and ";" comments, blank lines, and an optional "-" before the key.
// Keys may use "/" instead of "." as separator; they are returned dotted.
func ParseSysctlConf(data []byte) ([]Entry, error) {
	var out []Entry
	sc := bufio.NewScanner(bytes.NewReader(data))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' || line[0] == ';' {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		k, v = strings.TrimSpace(k), strings.TrimSpace(v)
		if !ok || k == "" || v == "" {
			return nil, fmt.Errorf("%w %d: %q", ErrBadProfile, n, line)
		}
		e := Entry{Value: strings.Join(strings.Fields(v), " "), Line: n}
		if strings.HasPrefix(k, "-") {
			e.IgnoreErrors, k = true, strings.TrimSpace(k[1:])
		}
		e.Key = strings.ReplaceAll(k, "/", ".")
		out = append(out, e)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("cannot read sysctl.d file: %w", err)
	}
	return out, nil
}

// rewriteSysctlConf returns data with the value of each entry whose key is
// in values replaced, keeping comments and the "-" prefix, and a note on
// the lines apply kept at the live, better value.
func rewriteSysctlConf(data []byte, entries []Entry, values map[string]string) []byte {
	lines := strings.SplitAfter(string(data), "\n")
	for _, e := range entries {
		v, ok := values[e.Key]
		if !ok || v == e.Value {
			continue
		}
		prefix := ""
		if e.IgnoreErrors {
			prefix = "-"
		}
		lines[e.Line-1] = fmt.Sprintf("# c1m sysctl apply kept the live value; the profile says %s\n%s%s = %s\n", e.Value, prefix, e.Key, v)
	}
	return []byte(strings.Join(lines, ""))
}
