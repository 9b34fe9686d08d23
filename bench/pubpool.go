package bench

import (
	"context"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// defaultPublishers is Config.Publishers' default: API requests in flight
// in the cluster-mode rooms scenario. One request waits for the stream's
// acknowledgement (a few hundred µs on this box), so one at a time caps
// the rate at a few thousand a second.
const defaultPublishers = 32

// pubStats is what a paced run of publishes did.
type pubStats struct {
	Sent, Errors int
	// Seconds is from the first request to the last answer.
	Seconds  float64
	FirstErr error
}

// rate is the publishes per second achieved.
func (s pubStats) rate() float64 {
	if s.Seconds <= 0 {
		return 0
	}
	return float64(s.Sent) / s.Seconds
}

// publishRooms publishes per messages to each of rooms rooms ("r0", "r1",
// …) in rounds (message k to every room, then k+1), paced at rate per
// second (0: as fast as the requests go), with conns requests in flight,
// each through the next node in turn (cluster mode: each goes once). A
// request that fails is counted, not retried: its message is missing at
// its receivers, which the phase reports. progress is called with the
// publishes sent so far, from the pacing goroutine.
func (p *publisher) publishRooms(ctx context.Context, rooms, per, rate, conns int, progress func(int)) pubStats {
	type job struct{ node, room, k int }
	jobs := make(chan job, conns)
	var (
		st       pubStats
		mu       sync.Mutex
		errs     atomic.Int64
		wg       sync.WaitGroup
		sentDone atomic.Int64
	)
	for range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range jobs {
				if err := p.toRoomVia(j.node, "r"+strconv.Itoa(j.room), j.k); err != nil {
					if errs.Add(1) == 1 {
						mu.Lock()
						st.FirstErr = err
						mu.Unlock()
					}
				}
				sentDone.Add(1)
			}
		}()
	}
	start := time.Now()
	var gap time.Duration
	if rate > 0 {
		gap = time.Second / time.Duration(rate)
	}
	next, n := start, 0
	lastShow := start
send:
	for k := 1; k <= per; k++ {
		for room := 0; room < rooms; room++ {
			if ctx.Err() != nil {
				break send
			}
			jobs <- job{node: n % len(p.urls), room: room, k: k}
			n++
			if gap > 0 {
				next = next.Add(gap)
				if d := time.Until(next); d > time.Millisecond {
					time.Sleep(d)
				}
			}
			if progress != nil && time.Since(lastShow) > 250*time.Millisecond {
				lastShow = time.Now()
				progress(int(sentDone.Load()))
			}
		}
	}
	close(jobs)
	wg.Wait()
	st.Seconds = time.Since(start).Seconds()
	st.Errors = int(errs.Load())
	st.Sent = n - st.Errors
	return st
}
