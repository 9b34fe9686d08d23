package sysctl

import "fmt"

// FileLimit returns this process's RLIMIT_NOFILE (soft and hard).
func FileLimit() (Rlimit, error) {
	l, err := getNoFile()
	if err != nil {
		return Rlimit{}, fmt.Errorf("cannot read the open-files limit: %w", err)
	}
	return l, nil
}

// RaiseFileLimit raises this process's soft RLIMIT_NOFILE to its hard
// limit, as a process holding one fd per connection must (getrlimit(2)),
// and returns the resulting soft limit. Children started afterwards
// inherit it. It is the one place c1m raises the limit: `c1m serve`, the
// benchmark's orchestrator, workers and comparison servers all call it.
func RaiseFileLimit() (uint64, error) {
	l, err := FileLimit()
	if err != nil {
		return 0, err
	}
	if l.Cur < l.Max {
		l.Cur = l.Max
		if err := setNoFile(l); err != nil {
			return 0, fmt.Errorf("cannot raise the open-files limit to %d: %w", l.Max, err)
		}
	}
	return l.Cur, nil
}
