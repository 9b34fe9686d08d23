package sysctl

import (
	"math"
	"strconv"
)

// Constant is one figure the capacity model rests on, with where it comes
// from: a measurement (the section of docs/ that reports it and the
// command that produced it) or a protocol fact. A plain value.
type Constant struct {
	Name   string  `json:"name"`
	Value  float64 `json:"value"`
	Unit   string  `json:"unit"`
	Source string  `json:"source"`
}

// The measured per-connection and per-event costs of the model. Each was
// measured on the project's 2-core box over loopback with both ends on it
// (docs/benchmarks.md); docs/operations.md, "Capacity planning", says how.
const (
	// PlanUserBytesPerConn is c1m serve's user-space memory per open
	// connection of the app handler: (RSS at N − RSS at 0) / N.
	PlanUserBytesPerConn = 161
	// PlanKernelBytesPerSocket is the kernel memory of one idle socket:
	// growth of Slab over the 2N sockets of a run.
	PlanKernelBytesPerSocket = 5074
	// PlanKernelReclaimableShare is the part of that slab (socket inodes,
	// dentries) that /proc/meminfo files as SReclaimable although it stays
	// pinned while the socket is open: free(1) and MemAvailable count it as
	// available. Measured over a million sockets: 1,965 of 5,143 B.
	PlanKernelReclaimableShare = 0.38
	// PlanProcessBaseBytes is the resident memory of a c1m serve process
	// with no connection (servers_before / servers of the 100,000 and
	// 1,000,000 runs: 9.6 and 9.7 MiB).
	PlanProcessBaseBytes = 10 << 20
	// PlanCPUPerHeartbeat is the server CPU of one heartbeat: a ping
	// written and its pong read.
	PlanCPUPerHeartbeat = 21e-6
	// PlanCPUPerPublish is the server CPU of one publish through the HTTP
	// publish API, beyond its deliveries.
	PlanCPUPerPublish = 204e-6
)

// cpuPoint is the measured server CPU per delivery at a number of
// connections on the box.
type cpuPoint struct {
	conns   float64
	seconds float64
	source  string
}

// cpuPerDelivery is the server CPU per delivery measured at three sizes.
// It grows with the sockets on a box (more of them miss the caches, and
// the kernel's established-socket hash, sized at boot, gets longer
// chains), so the model interpolates between the points in log(N) and
// holds the end values outside them.
var cpuPerDelivery = []cpuPoint{
	{19_000, 9.8e-6, "docs/benchmarks.md, C1M section: 9.8 µs at 19,000 connections in one process (c1m bench --conns 19000 --servers 1 --workers 1 --scenario idle,broadcast --broadcasts 10 --hold 5s)"},
	{100_000, 11.8e-6, "docs/benchmarks.md, side by side (100,000): c1m bench --conns 100000 --server c1m --scenario idle,broadcast --broadcasts 10 --interval 3s --hold 20s --ping-interval 10m"},
	{1_000_000, 19.0e-6, "docs/benchmarks.md, C1M section: c1m bench --conns 1000000 --hold 60s --scenario idle,broadcast --broadcasts 10 --interval 20s --ping-interval 10m"},
}

// CPUPerDelivery returns the model's server CPU seconds per delivery on a
// box holding conns connections.
func CPUPerDelivery(conns int) float64 {
	pts := cpuPerDelivery
	n := float64(conns)
	if n <= pts[0].conns {
		return pts[0].seconds
	}
	for i := 1; i < len(pts); i++ {
		if n <= pts[i].conns {
			a, b := pts[i-1], pts[i]
			f := (math.Log(n) - math.Log(a.conns)) / (math.Log(b.conns) - math.Log(a.conns))
			return a.seconds + f*(b.seconds-a.seconds)
		}
	}
	return pts[len(pts)-1].seconds
}

// Protocol and engine facts the model uses. A test in cmd/c1m keeps them
// equal to the engine's own defaults.
const (
	// PlanChunkSize is the targets one fan-out task writes
	// (broadcast.DefaultChunkSize).
	PlanChunkSize = 1024
	// PlanFanoutWorkersPerCore is the fan-out pool per core (the pool is
	// 2 × GOMAXPROCS).
	PlanFanoutWorkersPerCore = 2
	// PlanPingInterval is c1m serve's default heartbeat, in seconds.
	PlanPingInterval = 30
	// PlanEnvelopeBytes is what a delivered message carries beyond its
	// data: the frame header and the JSON envelope
	// {"type":"message","room":…,"from":…,"seq":…,"ts":…,"data":…}
	// with a 10-character room and an 11-character user.
	PlanEnvelopeBytes = 103
	// PlanWireBytesPerSegment is what a TCP segment adds on Ethernet:
	// preamble, header, FCS and gap (38), IPv4 (20), TCP with timestamps
	// (32, RFC 7323).
	PlanWireBytesPerSegment = 90
	// PlanMSS is the payload of one segment on a 1,500-byte MTU with TCP
	// timestamps.
	PlanMSS = 1448
	// PlanPageSize is the page size assumed for net.ipv4.tcp_mem (x86-64
	// and most arm64 kernels).
	PlanPageSize = 4096
)

// PlanConstants lists every constant of the model with its source, for
// c1m plan to print.
func PlanConstants() []Constant {
	out := []Constant{
		{"user-space memory per connection", PlanUserBytesPerConn, "B",
			"docs/benchmarks.md, idle connections (app handler): c1m bench --scenario idle --conns 19000 --servers 1 --workers 1 --hold 10s"},
		{"kernel memory per socket", PlanKernelBytesPerSocket, "B",
			"docs/benchmarks.md, idle connections: Slab growth / 2N, same command"},
		{"share of socket slab filed as reclaimable", PlanKernelReclaimableShare, "",
			"docs/operations.md, capacity planning: SReclaimable / Slab growth over 1,000,000 connections"},
		{"memory of a c1m serve process with no connection", PlanProcessBaseBytes >> 20, "MiB",
			"docs/operations.md, capacity planning: servers_before of c1m bench --conns 100000 and --conns 1000000"},
	}
	for _, p := range cpuPerDelivery {
		out = append(out, Constant{"server CPU per delivery at " + formatCount(p.conns) + " connections", p.seconds * 1e6, "µs", p.source})
	}
	return append(out,
		Constant{"server CPU per heartbeat", PlanCPUPerHeartbeat * 1e6, "µs",
			"docs/operations.md, capacity planning: c1m bench --conns 19000 --servers 1 --workers 1 --scenario idle --hold 60s --ping-interval 2s, less the same with 10m"},
		Constant{"server CPU per publish (HTTP API)", PlanCPUPerPublish * 1e6, "µs",
			"docs/operations.md, capacity planning: c1m bench --conns 19000 --servers 1 --workers 1 --scenario idle,rooms --room-size 1 --publish-rate 2000 --duration 10s --ping-interval 10m, less one delivery"},
		Constant{"targets per fan-out task", PlanChunkSize, "", "broadcast.DefaultChunkSize"},
		Constant{"fan-out workers per core", PlanFanoutWorkersPerCore, "", "broadcast.Config.Workers: 2 × GOMAXPROCS"},
		Constant{"message envelope and frame header", PlanEnvelopeBytes, "B", "broadcast.EncodeMessage, 10-character room, 11-character user"},
		Constant{"wire overhead per TCP segment", PlanWireBytesPerSegment, "B", "Ethernet 38 + IPv4 20 + TCP with timestamps 32"},
	)
}

// formatCount renders 19000 as 19,000.
func formatCount(v float64) string {
	s := strconv.FormatInt(int64(v), 10)
	var out []byte
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			out = append(out, ',')
		}
		out = append(out, byte(c))
	}
	return string(out)
}
