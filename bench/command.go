package bench

import (
	"github.com/HdrHistogram/hdrhistogram-go"
)

// Command is one instruction from the orchestrator to a worker, a JSON
// line on the worker's stdin.
type Command struct {
	// Cmd is "start" (begin connecting, for a worker started with
	// WaitStart), "dump" (report and, with Reset, restart the histograms
	// and counters), "slow" (stop reading on Fraction of the connections),
	// "join" (join rooms of RoomSize by global connection index),
	// "churn" (close and reopen Rate connections per second; 0 stops),
	// "publish" (send Count room_message frames of Size bytes of data to
	// each room of RoomSize whose publisher this worker holds, paced so
	// that all workers together send Rate per second; see publishRoom) or
	// "clock" (from now on, correct receive times by Offset: this host's
	// clock minus the publisher's, freshly measured).
	Cmd      string  `json:"cmd"`
	Reset    bool    `json:"reset,omitempty"`
	Expect   int     `json:"expect,omitempty"` // dump: broadcasts each connection should have
	Fraction float64 `json:"fraction,omitempty"`
	RoomSize int     `json:"room_size,omitempty"`
	Rate     int     `json:"rate,omitempty"`
	Count    int     `json:"count,omitempty"`
	Size     int     `json:"size,omitempty"`
	Offset   int64   `json:"offset_ns,omitempty"` // clock: ns
}

// Dump is a worker's answer to a dump command.
type Dump struct {
	Type string `json:"type"` // "dump"
	// Latency holds receive − send of broadcast messages, in µs.
	Latency *hdrhistogram.Snapshot `json:"latency"`
	// Probe holds ping → pong round trips of the probe connections, µs.
	Probe *hdrhistogram.Snapshot `json:"probe"`
	// Cross holds the latencies of the deliveries published through
	// another cluster node than the receiving connection's (messages that
	// name their node, cluster mode), µs.
	Cross *hdrhistogram.Snapshot `json:"cross,omitempty"`
	// Errors counts error messages from the server (a refused publish,
	// a rate limit) since the reset.
	Errors int `json:"errors,omitempty"`
	Open   int `json:"open"`
	Slow   int `json:"slow"`
	// Reconnected counts connections reopened by churn since the reset,
	// left out of Complete, Short and Extra.
	Reconnected int `json:"reconnected"`
	// Complete counts open, reading connections that received exactly
	// Expect broadcasts since the last reset; Short those with fewer,
	// Extra those with more (a duplicate).
	Complete int `json:"complete"`
	Short    int `json:"short"`
	Extra    int `json:"extra"`
	// Closes counts close frames from the server by code.
	Closes  map[int]int `json:"closes"`
	Churned int         `json:"churned"`
	// Early counts deliveries that arrived before their send time once
	// the clock offset was subtracted (recorded as 1 µs): the offset's
	// error was larger than their latency.
	Early int `json:"early"`
}

// Latency histograms: 1 µs to 2 minutes at 3 significant digits.
const (
	histMin = 1
	histMax = 120_000_000
	histSig = 3
)

func newHist() *hdrhistogram.Histogram { return hdrhistogram.New(histMin, histMax, histSig) }

// MergeSnapshots merges histogram snapshots into one histogram.
func MergeSnapshots(snaps []*hdrhistogram.Snapshot) *hdrhistogram.Histogram {
	h := newHist()
	for _, s := range snaps {
		if s != nil {
			h.Merge(hdrhistogram.Import(s))
		}
	}
	return h
}
