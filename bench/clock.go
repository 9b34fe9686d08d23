package bench

import "time"

// Clock skew between the orchestrator, which stamps every broadcast with
// its send time, and an agent, whose workers stamp its arrival, would add
// straight into every latency. The orchestrator therefore measures each
// agent's offset the way NTP does (RFC 5905, §8): it sends its time t0,
// the agent notes its receive and send times t1 and t2, the orchestrator
// its receive time t3. With a symmetric path,
//
//	offset = ((t1 − t0) + (t2 − t3)) / 2    (agent clock − orchestrator clock)
//	delay  = (t3 − t0) − (t2 − t1)          (the round trip on the wire)
//
// and whatever the asymmetry, the true offset lies within ± delay/2 of the
// estimate. Of several samples the one with the smallest delay is kept:
// it had the least queueing, so the tightest bound. The workers subtract
// the offset from each receive time.

// clockSamples is how many exchanges one measurement takes.
const clockSamples = 8

// clockSample is one exchange: t0 and t3 on the orchestrator's clock, t1
// and t2 on the agent's, Unix ns.
type clockSample struct{ t0, t1, t2, t3 int64 }

func (s clockSample) offset() int64 { return ((s.t1 - s.t0) + (s.t2 - s.t3)) / 2 }
func (s clockSample) delay() int64  { return (s.t3 - s.t0) - (s.t2 - s.t1) }

// ClockMeasure is one measurement of an agent's clock offset.
type ClockMeasure struct {
	// At says when: "before the ramp", or before which scenario.
	At string `json:"at"`
	// OffsetMs is the agent's clock minus the orchestrator's; ErrorMs
	// half the round trip of the best sample: the offset is within ± it.
	OffsetMs float64 `json:"offset_ms"`
	ErrorMs  float64 `json:"error_bound_ms"`
	Samples  int     `json:"samples"`
	offset   int64   // ns, what the workers get
}

// bestClock estimates the offset from samples (at least one): the one
// with the smallest delay.
func bestClock(at string, samples []clockSample) ClockMeasure {
	best := samples[0]
	for _, s := range samples[1:] {
		if s.delay() < best.delay() {
			best = s
		}
	}
	ms := func(ns int64) float64 { return float64(ns) / float64(time.Millisecond) }
	return ClockMeasure{At: at, OffsetMs: ms(best.offset()), ErrorMs: ms(max(best.delay(), 0)) / 2,
		Samples: len(samples), offset: best.offset()}
}
