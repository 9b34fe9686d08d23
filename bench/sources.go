package bench

import (
	"fmt"
	"net/netip"
	"strings"
)

// DefaultSources is 127.0.0.2–127.0.0.254: every loopback address is local
// on Linux, and each gives the benchmark its own 4-tuple space.
func DefaultSources() []netip.Addr {
	var out []netip.Addr
	for i := 2; i <= 254; i++ {
		out = append(out, netip.AddrFrom4([4]byte{127, 0, 0, byte(i)}))
	}
	return out
}

// ParseSources parses "a.b.c.d-a.b.c.e" ranges and single addresses,
// comma-separated (IPv4 only).
func ParseSources(s string) ([]netip.Addr, error) {
	var out []netip.Addr
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		lo, hi, isRange := strings.Cut(part, "-")
		a, err := netip.ParseAddr(lo)
		if err != nil || !a.Is4() {
			return nil, fmt.Errorf("cannot parse source address %q: want IPv4", lo)
		}
		if !isRange {
			out = append(out, a)
			continue
		}
		b, err := netip.ParseAddr(hi)
		if err != nil || !b.Is4() || b.Less(a) {
			return nil, fmt.Errorf("cannot parse source range %q: want low-high IPv4", part)
		}
		for x := a; ; x = x.Next() {
			out = append(out, x)
			if x == b || len(out) > 1<<20 {
				break
			}
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("cannot use source addresses %q: none given", s)
	}
	return out, nil
}

// Endpoint picks connection i's source address and port: addresses round
// robin, ports counting up from portBase per address. With first as the
// worker's global offset, workers never pick the same pair.
func Endpoint(sources []netip.Addr, portBase, portMax, i int) (netip.Addr, int, error) {
	addr := sources[i%len(sources)]
	port := portBase + i/len(sources)
	if port > portMax {
		return addr, 0, fmt.Errorf("cannot place connection %d: %d source addresses × ports %d-%d are exhausted; add addresses with --sources", i, len(sources), portBase, portMax)
	}
	return addr, port, nil
}
