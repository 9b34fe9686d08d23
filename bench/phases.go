package bench

import (
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
)

// Percentiles summarise a latency histogram, in milliseconds.
type Percentiles struct {
	Count int64   `json:"count"`
	P50   float64 `json:"p50_ms"`
	P90   float64 `json:"p90_ms"`
	P99   float64 `json:"p99_ms"`
	P999  float64 `json:"p999_ms"`
	Max   float64 `json:"max_ms"`
}

func percentiles(h *hdrhistogram.Histogram) Percentiles {
	ms := func(us int64) float64 { return float64(us) / 1000 }
	return Percentiles{
		Count: h.TotalCount(),
		P50:   ms(h.ValueAtQuantile(50)), P90: ms(h.ValueAtQuantile(90)),
		P99: ms(h.ValueAtQuantile(99)), P999: ms(h.ValueAtQuantile(99.9)), Max: ms(h.Max()),
	}
}

// cdf returns (latency ms, fraction ≤) points for the latency chart.
func cdf(h *hdrhistogram.Histogram) [][2]float64 {
	var pts [][2]float64
	if h.TotalCount() == 0 {
		return pts
	}
	for _, q := range []float64{0, 1, 5, 10, 20, 30, 40, 50, 60, 70, 80, 90, 95, 99, 99.9, 99.99, 100} {
		pts = append(pts, [2]float64{float64(h.ValueAtQuantile(q)) / 1000, q / 100})
	}
	return pts
}

// PhaseResult is what one scenario after the ramp measured.
type PhaseResult struct {
	Name     string  `json:"name"`
	Messages int     `json:"messages"` // publishes (each to every server)
	Seconds  float64 `json:"seconds"`
	// Receivers are the open, reading connections at the end; Complete
	// those that got exactly every message meant for them, Short fewer,
	// Extra more (duplicates).
	Receivers    int     `json:"receivers"`
	Complete     int     `json:"complete"`
	Short        int     `json:"short"`
	Extra        int     `json:"extra"`
	Completeness float64 `json:"completeness"`
	Slow         int     `json:"slow"`
	Churned      int     `json:"churned"`
	// Latency is receive − send per delivery; Probe the ping round trips
	// of the probe connections during the phase.
	Latency    Percentiles `json:"latency"`
	Probe      Percentiles `json:"probe_rtt"`
	Deliveries int64       `json:"deliveries"`
	// DeliveriesPerSecond is the amplified write rate: for the rooms
	// scenario, publishes per second × room size.
	DeliveriesPerSecond float64 `json:"deliveries_per_second"`
	// CPUSecondsPerDelivery is the servers' CPU time over deliveries.
	CPUMicrosPerDelivery float64      `json:"server_cpu_us_per_delivery"`
	RSSBefore            int64        `json:"server_rss_before_bytes"`
	RSSPeak              int64        `json:"server_rss_peak_bytes"`
	Closes               map[int]int  `json:"client_closes_by_code"`
	CDF                  [][2]float64 `json:"latency_cdf"`
	// Slow scenario: the flood that overflowed the slow clients, and what
	// the servers did to them (closed under --slow-policy=close, messages
	// dropped under drop).
	Flood            *PhaseResult `json:"flood,omitempty"`
	ServerSlowClosed int          `json:"server_slow_closed,omitempty"`
	ServerDropped    int          `json:"server_dropped,omitempty"`

	// Cluster mode: CrossNode is the latency of the deliveries published
	// through another node than the receiver's; Backplane what NATS
	// carried, summed over the nodes. PublishRate is the publishes per
	// second achieved (the rooms scenario, against TargetRate),
	// PublishErrors the publishes refused or failed, ErrorMessages the
	// error messages the clients got from the servers.
	CrossNode     *Percentiles `json:"cross_node_latency,omitempty"`
	Backplane     *Backplane   `json:"backplane,omitempty"`
	PublishRate   float64      `json:"publish_rate,omitempty"`
	TargetRate    int          `json:"target_rate,omitempty"`
	PublishErrors int          `json:"publish_errors,omitempty"`
	ErrorMessages int          `json:"error_messages,omitempty"`
}

// phaseRun gathers one phase: resets the workers' counters, watches the
// servers' memory, and merges the workers' dumps at the end.
type phaseRun struct {
	r     *runner
	res   PhaseResult
	label string // the phase's name in the per-agent figures
	start time.Time
	cpu0  float64
	msgs0 int64 // messages the workers had received at the start
	// metrics0 are the servers' summed metrics at the start (cluster
	// mode: the backplane's counters).
	metrics0 map[string]float64
	stop     chan struct{}
	wg       sync.WaitGroup
	peakMu   sync.Mutex
	rssPeak  int64
}

func (r *runner) beginPhase(name string) (*phaseRun, error) {
	r.updateClocks("before the " + name + " scenario")
	if _, err := doAll(r.workers, Command{Cmd: "dump", Reset: true}); err != nil {
		return nil, err
	}
	p := &phaseRun{r: r, res: PhaseResult{Name: name}, label: name, start: time.Now(), cpu0: sumCPU(r.servers), stop: make(chan struct{}),
		msgs0: sumProgress(r.workers).Messages}
	if r.cfg.clustered() {
		p.metrics0 = scrapeMetrics(r.servers)
	}
	p.res.RSSBefore = sumRSS(r.servers)
	p.rssPeak = p.res.RSSBefore
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		t := time.NewTicker(200 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-p.stop:
				return
			case <-t.C:
				v := sumRSS(r.servers)
				p.peakMu.Lock()
				p.rssPeak = max(p.rssPeak, v)
				p.peakMu.Unlock()
			}
		}
	}()
	return p, nil
}

// published shows the phase's progress after its k-th of n publishes.
func (p *phaseRun) published(k, n int) {
	p.r.st.update("%s: %d of %d published, %d messages received, %.0f s",
		p.res.Name, k, n, sumProgress(p.r.workers).Messages-p.msgs0, time.Since(p.start).Seconds())
}

// waitComplete polls the workers until every reading connection has
// expect messages, or timeout.
func (p *phaseRun) waitComplete(expect int, timeout time.Duration) {
	defer p.r.st.done()
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		ds, err := doAll(p.r.workers, Command{Cmd: "dump", Expect: expect})
		if err != nil {
			return
		}
		complete, open := 0, 0
		for _, x := range ds {
			d := x.d
			complete += d.Complete
			open += d.Open - d.Slow - d.Reconnected
		}
		if complete == open {
			return
		}
		p.r.st.update("%s: waiting for the last deliveries, %d of %d connections complete, %.0f s",
			p.res.Name, complete, open, time.Since(p.start).Seconds())
		time.Sleep(250 * time.Millisecond)
	}
}

// end collects the dumps (expect: messages each reader should have).
func (p *phaseRun) end(expect int) (PhaseResult, error) {
	ds, err := doAll(p.r.workers, Command{Cmd: "dump", Expect: expect, Reset: true})
	close(p.stop)
	p.wg.Wait()
	if err != nil {
		return p.res, err
	}
	res := p.res
	res.Seconds = time.Since(p.start).Seconds()
	res.Closes = map[int]int{}
	p.r.hostPhases(p.label, ds)
	var lat, probe, cross []*hdrhistogram.Snapshot
	for _, x := range ds {
		d := x.d
		cross = append(cross, d.Cross)
		res.ErrorMessages += d.Errors
		res.Receivers += d.Open - d.Slow - d.Reconnected
		res.Complete += d.Complete
		res.Short += d.Short
		res.Extra += d.Extra
		res.Slow += d.Slow
		res.Churned += d.Churned
		for k, v := range d.Closes {
			res.Closes[k] += v
		}
		lat = append(lat, d.Latency)
		probe = append(probe, d.Probe)
	}
	if res.Receivers > 0 {
		res.Completeness = float64(res.Complete) / float64(res.Receivers)
	}
	lh := MergeSnapshots(lat)
	res.Latency = percentiles(lh)
	res.CDF = cdf(lh)
	res.Probe = percentiles(MergeSnapshots(probe))
	res.Deliveries = lh.TotalCount()
	if res.Seconds > 0 {
		res.DeliveriesPerSecond = float64(res.Deliveries) / res.Seconds
	}
	if res.Deliveries > 0 && len(p.r.servers) > 0 {
		res.CPUMicrosPerDelivery = (sumCPU(p.r.servers) - p.cpu0) * 1e6 / float64(res.Deliveries)
	}
	res.RSSPeak = p.rssPeak
	if p.metrics0 != nil {
		res.Backplane = backplaneDelta(p.metrics0, scrapeMetrics(p.r.servers))
		if ch := MergeSnapshots(cross); ch.TotalCount() > 0 {
			pc := percentiles(ch)
			res.CrossNode = &pc
		}
	}
	return res, nil
}

// broadcastPhase publishes n messages to everyone, interval apart.
func (r *runner) broadcastPhase(name string, n int, interval time.Duration, pub *publisher) (PhaseResult, error) {
	p, err := r.beginPhase(name)
	if err != nil {
		return PhaseResult{}, err
	}
	for k := 1; k <= n; k++ {
		if err := pub.toAll(k); err != nil {
			return PhaseResult{}, err
		}
		p.res.Messages++
		p.published(k, n)
		if k < n {
			time.Sleep(interval)
		}
	}
	p.waitComplete(n, 60*time.Second)
	return p.end(n)
}

// slowPhase makes the designated clients stop reading and floods
// everyone with more than those can absorb, so the server must apply its
// slow-consumer policy to them while its memory stays bounded; then it
// measures small broadcasts to everyone else, to compare with the
// broadcast scenario: the rest keep their latency.
func (r *runner) slowPhase(pub, flood *publisher) (PhaseResult, error) {
	if _, err := doAll(r.workers, Command{Cmd: "slow", Fraction: r.cfg.SlowFraction}); err != nil {
		return PhaseResult{}, err
	}
	before := scrapeMetrics(r.servers)
	p, err := r.beginPhase(ScenarioSlow)
	if err != nil {
		return PhaseResult{}, err
	}
	p.label = ScenarioSlow + " (flood)"
	for k := 1; k <= slowMessages; k++ {
		if err := flood.toAll(k); err != nil {
			return PhaseResult{}, err
		}
		p.res.Messages++
		p.published(k, slowMessages)
		time.Sleep(slowInterval)
	}
	p.waitComplete(slowMessages, 120*time.Second)
	floodRes, err := p.end(slowMessages)
	if err != nil {
		return PhaseResult{}, err
	}
	res, err := r.broadcastPhase(ScenarioSlow, r.cfg.Broadcasts, r.cfg.Interval, pub)
	if err != nil {
		return PhaseResult{}, err
	}
	after := scrapeMetrics(r.servers)
	res.Flood = &floodRes
	res.RSSBefore = floodRes.RSSBefore
	res.RSSPeak = max(res.RSSPeak, floodRes.RSSPeak)
	res.Slow = floodRes.Slow
	const slowKey = `c1m_connections_closed_total{reason="slow_consumer"}`
	res.ServerSlowClosed = int(after[slowKey] - before[slowKey])
	res.ServerDropped = int(after["c1m_dropped_messages_total"] - before["c1m_dropped_messages_total"])
	return res, nil
}

// The slow scenario floods with slowMessages of slowSize (160 KiB per
// client), more than a non-reading client can absorb: its 4 KiB receive
// buffer, the server's send buffer and the 64 KiB pending cap.
const (
	slowMessages = 40
	slowSize     = 4096
	slowInterval = 50 * time.Millisecond
	// benchMaxPending is the servers' --max-pending in the benchmark.
	benchMaxPending = 64 << 10
)

// roomsPhase joins rooms of RoomSize and publishes to them at PublishRate
// for Duration: the amplified-writes model (publishes × room size).
func (r *runner) roomsPhase(pub *publisher) (PhaseResult, error) {
	if r.cfg.clustered() {
		return r.clusterRoomsPhase(pub)
	}
	size := r.cfg.RoomSize
	if _, err := doAll(r.workers, Command{Cmd: "join", RoomSize: size}); err != nil {
		return PhaseResult{}, err
	}
	time.Sleep(time.Second) // joins are asynchronous
	rooms := (r.cfg.Conns + size - 1) / size
	per := max(int(float64(r.cfg.PublishRate)*r.cfg.Duration.Seconds())/rooms, 1)
	p, err := r.beginPhase(ScenarioRooms)
	if err != nil {
		return PhaseResult{}, err
	}
	gap := time.Second / time.Duration(max(r.cfg.PublishRate, 1))
	next := time.Now()
	for k := 1; k <= per; k++ {
		for room := 0; room < rooms; room++ {
			if err := pub.toRoom("r"+strconv.Itoa(room), k); err != nil {
				return PhaseResult{}, err
			}
			p.res.Messages++
			p.published(p.res.Messages, per*rooms)
			next = next.Add(gap)
			if d := time.Until(next); d > 0 {
				time.Sleep(d)
			}
		}
	}
	p.waitComplete(per, 60*time.Second)
	return p.end(per)
}

// churnPhase reconnects ChurnRate connections per second for Duration
// while broadcasting every Interval: the stable connections must keep
// receiving.
func (r *runner) churnPhase(pub *publisher) (PhaseResult, error) {
	per := max(r.cfg.ChurnRate/len(r.workers), 1)
	p, err := r.beginPhase(ScenarioChurn)
	if err != nil {
		return PhaseResult{}, err
	}
	if _, err := doAll(r.workers, Command{Cmd: "churn", Rate: per}); err != nil {
		return PhaseResult{}, err
	}
	end := time.Now().Add(r.cfg.Duration)
	for k := 1; time.Now().Before(end); k++ {
		if err := pub.toAll(k); err != nil {
			return PhaseResult{}, err
		}
		p.res.Messages++
		p.r.st.update("churn: %d published, %d messages received, %.0f of %.0f s", k,
			sumProgress(r.workers).Messages-p.msgs0, time.Since(p.start).Seconds(), r.cfg.Duration.Seconds())
		time.Sleep(r.cfg.Interval)
	}
	if _, err := doAll(r.workers, Command{Cmd: "churn", Rate: 0}); err != nil {
		return PhaseResult{}, err
	}
	time.Sleep(time.Second)
	return p.end(p.res.Messages)
}

func (p PhaseResult) String() string {
	s := fmt.Sprintf("%s: %d messages, %d/%d complete, p99 %.1f ms, max %.1f ms, probe p99 %.1f ms",
		p.Name, p.Messages, p.Complete, p.Receivers, p.Latency.P99, p.Latency.Max, p.Probe.P99)
	if p.Flood != nil {
		s += fmt.Sprintf("; flood of %d × %d B: %d/%d readers complete, %d slow clients, %d closed and %d messages dropped by the servers, server RSS %.0f → %.0f MiB",
			p.Flood.Messages, slowSize, p.Flood.Complete, p.Flood.Receivers, p.Slow, p.ServerSlowClosed, p.ServerDropped,
			float64(p.RSSBefore)/(1<<20), float64(p.RSSPeak)/(1<<20))
	}
	return s + p.clusterString()
}
