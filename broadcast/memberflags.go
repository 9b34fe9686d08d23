package broadcast

import "sync/atomic"

// memberFlags are a member's three lock-free flags in one atomic word, so
// that the fd-indexed member table costs 8 bytes less per possible
// connection than with one atomic.Bool (4 bytes each, with padding) per
// flag. Any goroutine may read or change them; each operation is one
// atomic instruction on the word.
type memberFlags struct{ w atomic.Uint32 }

// The flags.
const (
	flagSlow   uint32 = 1 << iota // PolicyClose already applied
	flagGapOn                     // gaps holds something
	flagSyncOn                    // sync holds something
)

// has reports whether flag f is set.
func (m *memberFlags) has(f uint32) bool { return m.w.Load()&f != 0 }

// set sets or clears flag f.
func (m *memberFlags) set(f uint32, on bool) {
	if on {
		m.w.Or(f)
	} else {
		m.w.And(^f)
	}
}

// claim sets flag f and reports whether this call set it (it was clear):
// the CompareAndSwap(false, true) of a single flag.
func (m *memberFlags) claim(f uint32) bool { return m.w.Or(f)&f == 0 }
