package sysctl

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// Env says where live values are read and written. The zero value means the
// real machine: "/" as root, the real getrlimit(2) and setrlimit(2), the real
// cgroup and /proc/meminfo. Tests point Root at a fake tree and fill the
// fake fields. An Env is read-only after construction and may be shared.
type Env struct {
	// Root stands for "/": /proc/sys, /proc/meminfo, /proc/self/cgroup,
	// /proc/self/limits and /sys/fs/cgroup are read under it, and Apply
	// writes /proc/sys keys under it. Empty means "/".
	Root string
	// NoFile is a fake RLIMIT_NOFILE. Nil means getrlimit(2) when Root is
	// empty and the "Max open files" line of Root/proc/self/limits otherwise.
	NoFile *Rlimit
	// SetNoFile replaces setrlimit(2) on this process for Apply. Nil means
	// the real call when Root is empty; under a fake Root, Apply refuses
	// with ErrFakeLimits rather than touch the test process.
	SetNoFile func(Rlimit) error
	// WriteFile replaces the write of one value to a /proc/sys file, so
	// tests can inject EROFS or EPERM (root ignores file modes). Nil means
	// open with O_WRONLY|O_TRUNC and one write(2), as sysctl(8) does.
	WriteFile func(path string, data []byte) error
	// PageSize is the page size in bytes, the unit of net.ipv4.tcp_mem.
	// Zero means os.Getpagesize().
	PageSize int
}

// Rlimit is one resource limit: Cur is the soft limit, Max the hard one.
type Rlimit struct {
	Cur, Max uint64
}

// rlimInfinity is RLIM_INFINITY on Linux (getrlimit(2)).
const rlimInfinity = ^uint64(0)

// path returns the file that stands for the absolute path p under Root.
func (e Env) path(p string) string {
	if e.Root == "" {
		return p
	}
	return filepath.Join(e.Root, p)
}

// keyPath returns the /proc/sys file of a dotted key (sysctl.d(5)).
func (e Env) keyPath(key string) string {
	return e.path("/proc/sys/" + strings.ReplaceAll(key, ".", "/"))
}

func (e Env) pageSize() int {
	if e.PageSize > 0 {
		return e.PageSize
	}
	return os.Getpagesize()
}

func (e Env) writeFile(path string, data []byte) error {
	if e.WriteFile != nil {
		return e.WriteFile(path, data)
	}
	// Why not os.WriteFile: it would create a missing key under a fake root
	// and hide "absent on this kernel"; /proc/sys never creates files.
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_TRUNC, 0)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// readKey returns the whitespace-separated integer fields of a key.
func (e Env) readKey(key string) ([]int64, error) {
	b, err := os.ReadFile(e.keyPath(key))
	if err != nil {
		return nil, err
	}
	return parseFields(string(b))
}

func parseFields(s string) ([]int64, error) {
	fs := strings.Fields(s)
	out := make([]int64, 0, len(fs))
	for _, f := range fs {
		v, err := strconv.ParseInt(f, 10, 64)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, nil
}

func formatFields(v []int64) string {
	parts := make([]string, len(v))
	for i, x := range v {
		parts[i] = strconv.FormatInt(x, 10)
	}
	return strings.Join(parts, " ")
}
