package sysctl

import (
	"strings"
	"testing"
)

// TestEHash: the established hash's row wants n/2 buckets rounded up to
// a power of two, takes a per-namespace table's negative size as its
// size, names the boot parameter when short, and says what to do on a
// kernel that does not show the size.
func TestEHash(t *testing.T) {
	for _, c := range []struct {
		n    int
		want int64
	}{{1, 1024}, {2048, 1024}, {2050, 2048}, {19_000, 16384}, {1_000_000, 524288}, {2_000_000, 1048576}} {
		if got := NeededEHash(c.n); got != c.want {
			t.Fatalf("NeededEHash(%d) = %d, want %d", c.n, got, c.want)
		}
	}
	row := func(files map[string]string, n int) Row {
		t.Helper()
		return Env{Root: fakeTree(t, files), PageSize: 4096}.checkEHash(n)
	}
	if r := row(defaults(), 400_000); r.Status != StatusOK {
		t.Fatalf("262144 buckets for 400,000: %+v", r)
	}
	r := row(defaults(), 1_000_000)
	if r.Status != StatusShort || !strings.Contains(r.Fix, "thash_entries=524288") || !strings.Contains(r.Fix, "chains of 4") {
		t.Fatalf("262144 buckets for 1,000,000: %+v", r)
	}
	if r := row(with(defaults(), "net.ipv4.tcp_ehash_entries", "-1048576"), 1_000_000); r.Status != StatusOK {
		t.Fatalf("a namespace's own table of 1048576: %+v", r)
	}
	r = row(with(defaults(), "net.ipv4.tcp_ehash_entries", ""), 1_000_000)
	if r.Status != StatusUnknown || !strings.Contains(r.Fix, "thash_entries=524288") {
		t.Fatalf("an older kernel: %+v", r)
	}
}
