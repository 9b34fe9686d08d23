package broadcast

import (
	"testing"
	"unsafe"
)

// TestMemberSize: the member record is stored by value for every possible
// connection (Config.MaxFDs of them, the open-files limit), so each byte
// costs a megabyte at a million. 72 bytes: the state word, the flags word
// beside the mutex, the user, the rooms slice and the two maps.
func TestMemberSize(t *testing.T) {
	if got := unsafe.Sizeof(member{}); got != 72 {
		t.Fatalf("member is %d bytes, want 72: the fd-indexed table grows with every field", got)
	}
}

// TestMemberFlags: the three flags in one word are independent, and claim
// succeeds once until the flag is cleared.
func TestMemberFlags(t *testing.T) {
	var f memberFlags
	f.set(flagGapOn, true)
	if !f.has(flagGapOn) || f.has(flagSlow) || f.has(flagSyncOn) {
		t.Fatalf("after setting gapOn: %03b", f.w.Load())
	}
	if !f.claim(flagSlow) || f.claim(flagSlow) {
		t.Fatal("claim(slow) twice: want true then false")
	}
	f.set(flagGapOn, false)
	if f.has(flagGapOn) || !f.has(flagSlow) {
		t.Fatalf("after clearing gapOn: %03b, want slow alone", f.w.Load())
	}
	f.set(flagSlow, false)
	if !f.claim(flagSlow) {
		t.Fatal("claim after clearing: want true")
	}
}
