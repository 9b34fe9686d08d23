package sysctl

import (
	"errors"
	"fmt"
	"io/fs"
	"math/bits"
	"strconv"
)

// keyEHash is the row of the kernel's TCP established-connections hash.
// Every incoming segment looks its socket up in it, walking one bucket's
// chain; its size is fixed at boot (the thash_entries= kernel parameter,
// by default a share of the memory) and /proc/sys only shows it (Linux
// 6.1+; negative when the namespace has a table of its own). No apply can
// change it, so the row's fix is a boot parameter.
//
// Why it is checked: a profile of the million-connection benchmark
// (docs/benchmarks.md) found the lookup at 7 % of the box's CPU with two
// million sockets in 262,144 buckets (chains of 8), against 4 % of the
// benchmark's own samples at 19,000 connections.
const keyEHash = "net.ipv4.tcp_ehash_entries"

// NeededEHash is the hash buckets n sockets want: n/2 rounded up to a
// power of two (chains of at most 2 on average), at least 1,024.
func NeededEHash(n int) int64 {
	want := uint64(max(n/2, 1024))
	return int64(1) << bits.Len64(want-1)
}

// neededEHash is the NEEDED cell of the hash row.
func neededEHash(n int) string { return ">= " + strconv.FormatInt(NeededEHash(n), 10) }

func (e Env) checkEHash(n int) Row {
	need := NeededEHash(n)
	r := Row{Key: keyEHash, Needed: neededEHash(n)}
	cur, err := e.readKey(keyEHash)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		r.Current, r.Status = "not shown", StatusUnknown
		r.Fix = fmt.Sprintf("This kernel does not show the TCP established hash's size (dmesg says it at boot: \"TCP established hash table entries\"); for %d connections boot with thash_entries=%d.", n, need)
	case err != nil || len(cur) != 1:
		r.Current, r.Status = "unreadable", StatusUnknown
		r.Fix = fmt.Sprintf("Cannot read %s (%v).", keyEHash, err)
	case abs64(cur[0]) >= need:
		r.Current, r.Status = strconv.FormatInt(cur[0], 10), StatusOK
	default:
		r.Current, r.Status = strconv.FormatInt(cur[0], 10), StatusShort
		r.Fix = fmt.Sprintf("Add thash_entries=%d to the kernel command line and reboot: the established-connections hash is sized at boot, and with %d connections in %d buckets every segment walks chains of %d sockets.",
			need, n, abs64(cur[0]), ceilDiv(n, int(max(abs64(cur[0]), 1))))
	}
	return r
}

func abs64(v int64) int64 {
	if v < 0 {
		return -v
	}
	return v
}
