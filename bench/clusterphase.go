package bench

import (
	"fmt"
	"strings"
	"time"
)

// clusterRoomsPhase is the rooms scenario in cluster mode: rooms of
// RoomSize span the nodes (connections go to the servers in turn), and
// each room message is published once, through the nodes' APIs in turn
// (PublishVia api, Publishers requests in flight) or from one member's
// connection (ws), paced at PublishRate for Duration. Every member must
// get every message of its room, through the backplane.
func (r *runner) clusterRoomsPhase(pub *publisher) (PhaseResult, error) {
	cfg := r.cfg
	size := cfg.RoomSize
	if _, err := doAll(r.workers, Command{Cmd: "join", RoomSize: size}); err != nil {
		return PhaseResult{}, err
	}
	rooms := (cfg.Conns + size - 1) / size
	if err := r.settleRooms(pub, rooms); err != nil {
		return PhaseResult{}, err
	}
	per := max(int(float64(cfg.PublishRate)*cfg.Duration.Seconds())/rooms, 1)
	p, err := r.beginPhase(ScenarioRooms)
	if err != nil {
		return PhaseResult{}, err
	}
	p.res.TargetRate = cfg.PublishRate
	switch cfg.PublishVia {
	case PublishViaWS:
		if err := r.publishFromClients(p, size, per); err != nil {
			return PhaseResult{}, err
		}
	default:
		st := pub.publishRooms(r.ctx, rooms, per, cfg.PublishRate, cfg.Publishers, func(n int) { p.published(n, per*rooms) })
		p.res.Messages, p.res.PublishErrors, p.res.PublishRate = st.Sent, st.Errors, st.rate()
		if st.FirstErr != nil {
			r.logf("rooms: %d of %d publishes failed; the first: %v", st.Errors, per*rooms, st.FirstErr)
		}
	}
	p.waitComplete(per, 60*time.Second)
	return p.end(per)
}

// publishFromClients has the workers publish per messages to each room
// from one member's connection each, at PublishRate over all of them,
// and waits until they are through.
func (r *runner) publishFromClients(p *phaseRun, size, per int) error {
	sent := time.Now()
	if _, err := doAll(r.workers, Command{Cmd: "publish", RoomSize: size, Count: per, Rate: r.cfg.PublishRate, Size: r.cfg.Size}); err != nil {
		return err
	}
	rooms := (r.cfg.Conns + size - 1) / size
	deadline := sent.Add(10*r.cfg.Duration + time.Minute)
	for {
		var published, failed int64
		var secs float64
		done := true
		for _, w := range r.workers {
			pr := w.progress()
			// A progress line from before the command says nothing
			// about it.
			done = done && pr.T.After(sent) && pr.PublishDone
			published += pr.Published
			failed += pr.PublishFailed
			secs = max(secs, pr.PublishSeconds)
		}
		p.res.Messages, p.res.PublishErrors = int(published), int(failed)
		if done {
			if secs > 0 {
				p.res.PublishRate = float64(published) / secs
			}
			return nil
		}
		if err := workersFailed(r.workers); err != nil {
			return err
		}
		if time.Now().After(deadline) || r.ctx.Err() != nil {
			return fmt.Errorf("cannot publish from the clients: %d of %d sent after %v", published, per*rooms, time.Since(sent).Round(time.Second))
		}
		p.published(int(published), per*rooms)
		time.Sleep(100 * time.Millisecond)
	}
}

// settleMaxRounds bounds settleRooms.
const settleMaxRounds = 20

// settleRooms publishes one probe to every room, in rounds, until every
// reading member has had one: a node subscribes to a room's subject when
// its first member joins, asynchronously, and NATS carries the interest
// to the other nodes, so the first messages may miss a node. Each round
// waits until the deliveries have stopped, so that no probe arrives in
// the measured phase (whose counters start from zero).
func (r *runner) settleRooms(pub *publisher, rooms int) error {
	defer r.st.done()
	start := time.Now()
	for round := 1; round <= settleMaxRounds; round++ {
		st := pub.publishRooms(r.ctx, rooms, 1, 0, r.cfg.Publishers, nil)
		if st.FirstErr != nil {
			return fmt.Errorf("cannot publish the probes to the rooms: %w", st.FirstErr)
		}
		r.quiesce()
		ds, err := doAll(r.workers, Command{Cmd: "dump", Expect: 1})
		if err != nil {
			return err
		}
		short := 0
		for _, d := range ds {
			short += d.d.Short
		}
		if short == 0 {
			r.logf("rooms: every member got a probe of its room after %d round(s), %.1f s", round, time.Since(start).Seconds())
			return nil
		}
		r.st.update("rooms: %d members have had no probe of their room yet (round %d)", short, round)
		if r.ctx.Err() != nil {
			return r.ctx.Err()
		}
	}
	return fmt.Errorf("cannot settle the rooms: after %d rounds of probes some members never got a message of their room (the nodes' interest did not form)", settleMaxRounds)
}

// quiesce waits until the workers have received nothing for half a
// second (two progress lines), at most 30 s.
func (r *runner) quiesce() {
	prev := int64(-1)
	for end := time.Now().Add(30 * time.Second); time.Now().Before(end); {
		time.Sleep(300 * time.Millisecond)
		cur := sumProgress(r.workers).Messages
		if cur == prev {
			return
		}
		prev = cur
	}
}

// clusterString is the cluster-mode part of a phase's summary line.
func (p PhaseResult) clusterString() string {
	var parts []string
	if p.PublishRate > 0 {
		parts = append(parts, fmt.Sprintf("%.0f publishes/s (aimed at %d)", p.PublishRate, p.TargetRate))
	}
	if p.PublishErrors > 0 || p.ErrorMessages > 0 {
		parts = append(parts, fmt.Sprintf("%d publishes failed, %d error messages", p.PublishErrors, p.ErrorMessages))
	}
	if c := p.CrossNode; c != nil {
		parts = append(parts, fmt.Sprintf("cross-node p50 %.2f ms p99 %.2f ms max %.1f ms over %d deliveries", c.P50, c.P99, c.Max, c.Count))
	}
	if b := p.Backplane; b != nil {
		parts = append(parts, fmt.Sprintf("backplane: %d published, %d delivered to nodes", b.Published, b.Delivered))
	}
	if len(parts) == 0 {
		return ""
	}
	return "; " + strings.Join(parts, "; ")
}

// clusterTable writes the cluster-mode figures of the phases.
func clusterTable(b *strings.Builder, phases []PhaseResult) {
	fmt.Fprintf(b, "\n| scenario | publishes (each once) | achieved publishes/s (aim) | publishes failed / error messages | cross-node latency p50 / p90 / p99 / max (ms) | backplane published / delivered to nodes / holes |\n|---|---|---|---|---|---|\n")
	for _, p := range phases {
		rate, cross, bp := "—", "—", "—"
		if p.PublishRate > 0 {
			rate = fmt.Sprintf("%.0f (%d)", p.PublishRate, p.TargetRate)
		}
		if c := p.CrossNode; c != nil {
			cross = fmt.Sprintf("%.2f / %.2f / %.2f / %.1f", c.P50, c.P90, c.P99, c.Max)
		}
		if x := p.Backplane; x != nil {
			bp = fmt.Sprintf("%d / %d / %d", x.Published, x.Delivered, x.Holes)
		}
		fmt.Fprintf(b, "| %s | %d | %s | %d / %d | %s | %s |\n", p.Name, p.Messages, rate, p.PublishErrors, p.ErrorMessages, cross, bp)
	}
}
