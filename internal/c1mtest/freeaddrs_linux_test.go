package c1mtest

import (
	"net"
	"strconv"
	"testing"
)

// TestFreeAddrs: the ports are distinct, bindable, and below the kernel's
// ephemeral range, where no outgoing connection can take one before the
// server binds it.
func TestFreeAddrs(t *testing.T) {
	addrs := FreeAddrs(t, 64)
	if len(addrs) != 64 {
		t.Fatalf("got %d addresses, want 64", len(addrs))
	}
	seen := map[string]bool{}
	for _, a := range addrs {
		if seen[a] {
			t.Fatalf("%s returned twice in %v", a, addrs)
		}
		seen[a] = true
		_, ps, err := net.SplitHostPort(a)
		if err != nil {
			t.Fatal(err)
		}
		port, _ := strconv.Atoi(ps)
		if port < freePortLo || port >= min(freePortHi, ephemeralLow()) {
			t.Fatalf("port %d is outside %d-%d", port, freePortLo, min(freePortHi, ephemeralLow())-1)
		}
		ln, err := net.Listen("tcp", a)
		if err != nil {
			t.Fatalf("cannot bind %s just returned as free: %v", a, err)
		}
		ln.Close()
	}
}
