package cluster

import (
	"fmt"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"

	"c1m/broadcast"
)

// The backplane benchmarks run three embedded nodes in this process,
// each with interest in benchRooms rooms, and publish from all three.
// Run them alone (they measure the whole box):
//
//	go test ./cluster -run '^$' -bench . -benchtime 60000x
//
// BenchmarkThroughput reports room publishes per second sustained
// (every message delivered on all three nodes); BenchmarkLatency
// publishes at 5,000 per second and reports the publish-to-delivery
// latency on the other nodes (p50, p99). Variants: memory or file
// storage, one or three replicas, history off (the stream keeps one
// message per room) or 100 per room, and core NATS without JetStream
// (no order across publishers) for comparison.

const (
	benchRooms = 100
	benchRate  = 5000 // publishes per second, for the latency benchmark
)

type benchVariant struct {
	name     string
	core     bool
	storage  Storage
	replicas int
	history  int
}

var benchVariants = []benchVariant{
	{name: "core-nats", core: true},
	{name: "mem-R1-h0", storage: StorageMemory, replicas: 1},
	{name: "mem-R1-h100", storage: StorageMemory, replicas: 1, history: 100},
	{name: "mem-R3-h100", storage: StorageMemory, replicas: 3, history: 100},
	{name: "file-R1-h100", storage: StorageFile, replicas: 1, history: 100},
	{name: "file-R3-h100", storage: StorageFile, replicas: 3, history: 100},
}

// benchSink receives deliveries on one node: counts, and latencies of
// the messages published on other nodes.
type benchSink struct {
	name  string
	n     atomic.Int64
	mu    sync.Mutex
	lat   []time.Duration
	track atomic.Bool
}

func (s *benchSink) deliver(from string, data []byte) {
	s.n.Add(1)
	if !s.track.Load() || from == s.name {
		return
	}
	sent, err := strconv.ParseInt(string(data), 10, 64)
	if err != nil {
		return
	}
	d := time.Since(time.Unix(0, sent))
	s.mu.Lock()
	s.lat = append(s.lat, d)
	s.mu.Unlock()
}

// benchCluster is three nodes and a way to publish on each.
type benchCluster struct {
	sinks   []*benchSink
	publish []func(room int, data []byte) error
}

func startBenchCluster(b *testing.B, v benchVariant) *benchCluster {
	b.Helper()
	bc := &benchCluster{}
	for i := range 3 {
		bc.sinks = append(bc.sinks, &benchSink{name: fmt.Sprintf("n%d", i)})
	}
	nodes := startClusterDeliver(b, 3, func(i int, c *Config) {
		c.Logf = nil
		c.Storage, c.Replicas, c.History = v.storage, max(v.replicas, 1), v.history
		if v.storage == StorageFile {
			c.DataDir = b.TempDir()
		}
		c.MaxInflight = 4096
	}, func(i int) DeliverFunc {
		sink := bc.sinks[i]
		return func(m Message) { sink.deliver(m.From, m.Data) }
	})
	rooms := make([]broadcast.Target, benchRooms)
	for r := range rooms {
		rooms[r] = broadcast.ToRoom(fmt.Sprintf("room-%d", r))
	}
	if v.core {
		for i, n := range nodes {
			// One connection to publish, one to subscribe, as a node would.
			nc, err := nats.Connect(n.Server().ClientURL())
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(nc.Close)
			sc, err := nats.Connect(n.Server().ClientURL())
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(sc.Close)
			sink := bc.sinks[i]
			for r := range rooms {
				subj, _ := n.subj.live(rooms[r])
				_, err := sc.Subscribe(subj, func(m *nats.Msg) {
					f, data, _ := decodePayload(m.Data)
					sink.deliver(f, data)
				})
				if err != nil {
					b.Fatal(err)
				}
			}
			if err := sc.Flush(); err != nil {
				b.Fatal(err)
			}
			from := fmt.Sprintf("n%d", i)
			var sent int
			bc.publish = append(bc.publish, func(room int, data []byte) error {
				subj, _ := n.subj.live(rooms[room])
				if err := nc.Publish(subj, encodePayload(from, data)); err != nil {
					return err
				}
				// Core NATS has no acknowledgement: a round trip every
				// 1,000 messages is the flow control (without it the
				// server cuts slow consumers and messages are lost).
				if sent++; sent%1000 == 0 {
					return nc.Flush()
				}
				return nil
			})
		}
		// Each node's connection must see the others' subscriptions.
		for _, n := range nodes {
			eventually(b, "core subscriptions routed", func() bool {
				rz, _ := n.Server().Routez(nil)
				total := uint32(0)
				for _, r := range rz.Routes {
					total += r.NumSubs
				}
				return total >= 2*benchRooms
			})
		}
		return bc
	}
	for i, n := range nodes {
		for _, r := range rooms {
			if err := n.Interest(r); err != nil {
				b.Fatal(err)
			}
		}
		from := fmt.Sprintf("n%d", i)
		cl := n.Cluster
		bc.publish = append(bc.publish, func(room int, data []byte) error {
			return cl.Publish(rooms[room], from, data, nil)
		})
	}
	for _, r := range rooms {
		waitSubscribedB(b, nodes, r)
	}
	return bc
}

// waitSubscribedB is waitSubscribed for benchmarks.
func waitSubscribedB(b *testing.B, nodes []*node, tg broadcast.Target) {
	live, _ := nodes[0].subj.live(tg)
	eventually(b, "interest in "+live, func() bool {
		for _, s := range nodes {
			for _, n := range nodes {
				if n != s && !routeSubB(b, n, s.NodeName(), live) {
					return false
				}
			}
		}
		return true
	})
}

func routeSubB(b *testing.B, n *node, remote, subject string) bool {
	rz, err := n.Server().Routez(&routezSubs)
	if err != nil {
		b.Fatal(err)
	}
	for _, r := range rz.Routes {
		if r.RemoteName == remote && slices.Contains(r.Subs, subject) {
			return true
		}
	}
	return false
}

var routezSubs = server.RoutezOptions{Subscriptions: true}

// settle waits until every node received want messages, or, for core
// NATS (which may drop messages: it has no acknowledgement), until
// deliveries stop for a second; it returns the messages lost.
func (bc *benchCluster) settle(b *testing.B, core bool, want int64) int64 {
	if !core {
		bc.waitDelivered(b, want)
		return 0
	}
	var last int64 = -1
	progress := time.Now()
	for {
		var got int64
		for _, s := range bc.sinks {
			got += s.n.Load()
		}
		if got == want*int64(len(bc.sinks)) || time.Since(progress) > time.Second {
			return want*int64(len(bc.sinks)) - got
		}
		if got != last {
			last, progress = got, time.Now()
		}
		time.Sleep(time.Millisecond)
	}
}

// waitDelivered waits until every node received want messages in all.
func (bc *benchCluster) waitDelivered(b *testing.B, want int64) {
	eventually(b, "every delivery", func() bool {
		for _, s := range bc.sinks {
			if s.n.Load() < want {
				return false
			}
		}
		return true
	})
}

// BenchmarkThroughput: b.N room publishes, a third from each node, as
// fast as the in-flight window allows; timed until every node has
// received all of them.
func BenchmarkThroughput(b *testing.B) {
	for _, v := range benchVariants {
		b.Run(v.name, func(b *testing.B) {
			bc := startBenchCluster(b, v)
			data := []byte(strconv.FormatInt(time.Now().UnixNano(), 10))
			b.ResetTimer()
			start := time.Now()
			var wg sync.WaitGroup
			for p := range bc.publish {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for k := p; k < b.N; k += len(bc.publish) {
						for {
							err := bc.publish[p](k%benchRooms, data)
							if err == nil {
								break
							}
							if err != ErrBusy {
								b.Error(err)
								return
							}
							time.Sleep(50 * time.Microsecond)
						}
					}
				}()
			}
			wg.Wait()
			lost := bc.settle(b, v.core, int64(b.N))
			el := time.Since(start)
			b.StopTimer()
			b.ReportMetric(float64(b.N)/el.Seconds(), "pubs/s")
			if v.core {
				b.ReportMetric(float64(lost), "lost")
			}
			b.ReportMetric(0, "ns/op")
		})
	}
}

// BenchmarkLatency: b.N room publishes at benchRate per second, spread
// over the three nodes; the latency from Publish to delivery on every
// other node.
func BenchmarkLatency(b *testing.B) {
	for _, v := range benchVariants {
		b.Run(v.name, func(b *testing.B) {
			bc := startBenchCluster(b, v)
			for _, s := range bc.sinks {
				s.track.Store(true)
			}
			b.ResetTimer()
			tick := time.NewTicker(time.Millisecond)
			defer tick.Stop()
			start := time.Now()
			var buf []byte
			for k := 0; k < b.N; {
				<-tick.C
				due := int(time.Since(start).Seconds() * benchRate)
				for ; k < min(due, b.N); k++ {
					buf = strconv.AppendInt(buf[:0], time.Now().UnixNano(), 10)
					for {
						err := bc.publish[k%3](k%benchRooms, buf)
						if err == nil {
							break
						}
						if err != ErrBusy {
							b.Fatal(err)
						}
						time.Sleep(50 * time.Microsecond)
					}
				}
			}
			lost := bc.settle(b, v.core, int64(b.N))
			b.StopTimer()
			if v.core {
				b.ReportMetric(float64(lost), "lost")
			}
			var all []time.Duration
			for _, s := range bc.sinks {
				s.mu.Lock()
				all = append(all, s.lat...)
				s.mu.Unlock()
			}
			slices.Sort(all)
			pct := func(p float64) float64 {
				return float64(all[int(p*float64(len(all)-1))]) / 1e6
			}
			b.ReportMetric(pct(0.50), "p50-ms")
			b.ReportMetric(pct(0.99), "p99-ms")
			b.ReportMetric(pct(1), "max-ms")
			b.ReportMetric(0, "ns/op")
		})
	}
}

// BenchmarkMessage: the cost of one room message on a single embedded
// node, publish to delivery (acknowledgement included), in batches of
// 1,000. Allocations are the process's: nats.go's, the embedded
// server's and the cluster's together.
func BenchmarkMessage(b *testing.B) {
	var delivered atomic.Int64
	nodes := startClusterDeliver(b, 1, func(_ int, c *Config) { c.Logf = nil },
		func(int) DeliverFunc { return func(Message) { delivered.Add(1) } })
	n := nodes[0]
	room := broadcast.ToRoom("bench")
	if err := n.Interest(room); err != nil {
		b.Fatal(err)
	}
	live, _ := n.subj.live(room)
	eventually(b, "the subscription", func() bool {
		sz, _ := n.Server().Subsz(&server.SubszOptions{Test: live, Subscriptions: true})
		return sz.Total > 0
	})
	data := []byte(`{"text":"hello, room"}`)
	var acked sync.WaitGroup
	done := func(uint64, error) { acked.Done() }
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i += 1000 {
		k := min(1000, b.N-i)
		acked.Add(k)
		for range k {
			for n.Publish(room, "alice", data, done) == ErrBusy {
				waitBriefly()
			}
		}
		acked.Wait()
	}
	eventually(b, "every delivery", func() bool { return delivered.Load() >= int64(b.N) })
}
