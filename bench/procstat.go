package bench

import (
	"bufio"
	"fmt"
	"os"
	"strconv"
	"strings"
)

// ProcRSS returns a process's resident set size in bytes (VmRSS in
// /proc/PID/status, proc(5)).
func ProcRSS(pid int) (int64, error) {
	return statusField(fmt.Sprintf("/proc/%d/status", pid), "VmRSS:")
}

// ProcRSSAnon returns a process's anonymous resident memory in bytes
// (RssAnon in /proc/PID/status, proc(5)): its heap, stacks and runtime
// structures, without the pages of its executable and mapped files, which
// are shared, can be dropped and re-read, and do not grow with
// connections.
func ProcRSSAnon(pid int) (int64, error) {
	return statusField(fmt.Sprintf("/proc/%d/status", pid), "RssAnon:")
}

// ProcCPUSeconds returns a process's user+system CPU time (/proc/PID/stat
// fields 14 and 15, in clock ticks of 100 Hz on Linux).
func ProcCPUSeconds(pid int) (float64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, fmt.Errorf("cannot read process stat: %w", err)
	}
	// The command name (field 2) may hold spaces; fields resume after ')'.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, fmt.Errorf("cannot parse /proc/%d/stat", pid)
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 13 {
		return 0, fmt.Errorf("cannot parse /proc/%d/stat: too few fields", pid)
	}
	ut, err1 := strconv.ParseFloat(f[11], 64)
	st, err2 := strconv.ParseFloat(f[12], 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("cannot parse CPU times in /proc/%d/stat", pid)
	}
	return (ut + st) / 100, nil
}

// MemInfo is the part of /proc/meminfo the benchmark reads, in bytes.
type MemInfo struct {
	Total, Available, Slab, SUnreclaim int64
}

// ReadMemInfo reads /proc/meminfo.
func ReadMemInfo() (MemInfo, error) {
	f, err := os.Open("/proc/meminfo")
	if err != nil {
		return MemInfo{}, fmt.Errorf("cannot read /proc/meminfo: %w", err)
	}
	defer f.Close()
	var m MemInfo
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 2 {
			continue
		}
		v, err := strconv.ParseInt(fields[1], 10, 64)
		if err != nil {
			continue
		}
		v *= 1024
		switch fields[0] {
		case "MemTotal:":
			m.Total = v
		case "MemAvailable:":
			m.Available = v
		case "Slab:":
			m.Slab = v
		case "SUnreclaim:":
			m.SUnreclaim = v
		}
	}
	return m, sc.Err()
}

func statusField(path, key string) (int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, fmt.Errorf("cannot read %s: %w", path, err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if rest, ok := strings.CutPrefix(line, key); ok {
			fields := strings.Fields(rest)
			if len(fields) == 0 {
				break
			}
			v, err := strconv.ParseInt(fields[0], 10, 64)
			if err != nil {
				break
			}
			return v * 1024, nil
		}
	}
	return 0, fmt.Errorf("cannot find %s in %s", key, path)
}
