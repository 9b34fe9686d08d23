package server

import (
	"encoding/binary"
	"sync"

	"c1m/poller"
)

// ipRate limits new connections per source address (Config.AcceptRatePerIP)
// with a token bucket per address, in a table of fixed size: an address
// it does not hold takes the slot its hash falls in, and the address that
// had it starts over with a full bucket. So the table never grows, and a
// client with many addresses can only loosen the limit for others, never
// refuse them. IPv6 clients are counted per /64, the block one host or
// subscriber usually holds.
//
// Concurrency: safe for concurrent use (every loop accepts).
type ipRate struct {
	perNs  float64 // tokens per nanosecond
	burst  float64
	shards [ipShards]ipShard
}

const (
	ipShards        = 64
	ipSlotsPerShard = 1024 // 65,536 addresses in all, 24 bytes each
)

type ipShard struct {
	mu    sync.Mutex
	slots [ipSlotsPerShard]ipBucket
}

type ipBucket struct {
	key    uint64 // 0: empty
	tokens float64
	last   int64 // ns
}

func newIPRate(perSecond float64, burst int) *ipRate {
	return &ipRate{perNs: perSecond / 1e9, burst: float64(burst)}
}

// ipKey names an address (IPv4, or an IPv6 /64) by a non-zero number.
func ipKey(a poller.PeerAddr) uint64 {
	switch a.N {
	case 4:
		return 1<<63 | uint64(binary.BigEndian.Uint32(a.IP[:4]))
	case 16:
		return binary.BigEndian.Uint64(a.IP[:8]) | 1
	}
	return 0
}

// allow spends one token of a's bucket at now (ns); it reports whether
// there was one. An unknown address (no key) is allowed.
func (r *ipRate) allow(a poller.PeerAddr, now int64) bool {
	k := ipKey(a)
	if k == 0 {
		return true
	}
	h := k * 0x9E3779B97F4A7C15 // Fibonacci hashing spreads nearby addresses
	sh := &r.shards[h>>58]
	b := &sh.slots[(h>>48)&(ipSlotsPerShard-1)]
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if b.key != k {
		*b = ipBucket{key: k, tokens: r.burst, last: now}
	}
	b.tokens = min(r.burst, b.tokens+float64(now-b.last)*r.perNs)
	b.last = now
	if b.tokens >= 1 {
		b.tokens--
		return true
	}
	return false
}
