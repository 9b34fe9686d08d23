//go:build linux

package app_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"c1m/app"
	"c1m/broadcast"
	"c1m/poller"
	"c1m/server"
	"c1m/wsproto"
)

// benchData is the 64-byte message the benchmarks broadcast (a JSON
// string of 62 characters and its quotes). The frame on the wire adds the
// delivery envelope ({"type":"message","room":"b","from":"x","seq":N,
// "ts":T,"data":...}) and the header; BenchmarkRawWrite writes a frame
// of the same bytes, so both move the same bytes.
var benchData = []byte(`"` + strings.Repeat("x", 62) + `"`)

// fanoutRig is an in-process c1m server with the App handler and n raw
// clients in room "b", whose reads are drained by one goroutine sleeping
// in epoll (like a remote reader would).
type fanoutRig struct {
	s      *server.Server
	app    *app.App
	client []int
	server []int // the server side fds, from the hub's member list
	stop   chan struct{}
	done   chan struct{}
}

func newFanoutRig(b *testing.B, n int) *fanoutRig {
	b.Helper()
	return newFanoutRigHub(b, n, broadcast.Config{})
}

// newFanoutRigHub is newFanoutRig with the hub configured by hub.
func newFanoutRigHub(b *testing.B, n int, hub broadcast.Config) *fanoutRig {
	b.Helper()
	a, err := app.New(app.Config{RateBurst: 1 << 20, RateRefill: 1 << 20, API: app.APIConfig{Addr: "-"}, Hub: hub,
		Engine: server.Config{Addr: "127.0.0.1:0", MetricsAddr: "-", MaxPending: 64 << 20,
			Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}})
	if err != nil {
		b.Fatal(err)
	}
	if err := a.Start(); err != nil {
		b.Fatal(err)
	}
	s := a.Engine()
	r := &fanoutRig{s: s, app: a, stop: make(chan struct{}), done: make(chan struct{})}
	req := []byte("GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
	join := wsproto.AppendMaskedFrame(nil, true, wsproto.OpText, []byte(`{"type":"join","room":"b"}`), [4]byte{1, 2, 3, 4})
	buf := make([]byte, 4096)
	sa := &unix.SockaddrInet4{Port: s.Port(), Addr: [4]byte{127, 0, 0, 1}}
	for i := 0; i < n; i++ {
		fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			b.Fatal(err)
		}
		if err := unix.Connect(fd, sa); err != nil {
			b.Fatal(err)
		}
		_, _ = unix.Write(fd, req)
		got := 0
		for !bytes.Contains(buf[:got], []byte("\r\n\r\n")) {
			m, err := unix.Read(fd, buf[got:])
			if err != nil || m == 0 {
				b.Fatalf("upgrade %d: %v", i, err)
			}
			got += m
		}
		_, _ = unix.Write(fd, join)
		r.client = append(r.client, fd)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		info, _ := a.Hub().Room("b", n)
		if info.Count == n {
			for _, m := range info.Members {
				r.server = append(r.server, int(m.FD))
			}
			break
		}
		if time.Now().After(deadline) {
			b.Fatalf("only %d of %d joined", info.Count, n)
		}
		time.Sleep(10 * time.Millisecond)
	}
	go r.drain()
	return r
}

// drain reads and drops everything the clients receive.
func (r *fanoutRig) drain() {
	defer close(r.done)
	p, err := poller.New()
	if err != nil {
		panic(err)
	}
	defer p.Close()
	for _, fd := range r.client {
		_ = unix.SetNonblock(fd, true)
		_ = p.Add(fd, poller.EventRead)
	}
	buf := make([]byte, 1<<16)
	for {
		select {
		case <-r.stop:
			return
		default:
		}
		_ = p.Wait(50, func(fd int, ev poller.Events) error {
			for {
				if n, err := unix.Read(fd, buf); n <= 0 || err != nil {
					return nil
				}
			}
		})
	}
}

func (r *fanoutRig) close() {
	close(r.stop)
	<-r.done
	for _, fd := range r.client {
		_ = unix.Close(fd)
	}
	_ = r.app.Shutdown(context.Background())
}

// BenchmarkBroadcast publishes a 64-byte message to a room of N loopback
// connections through the real path (Hub, chunked fan-out on the pool,
// the server's per-connection write) and waits until every target has it.
// ns/delivery is the figure to compare with BenchmarkRawWrite.
func BenchmarkBroadcast(b *testing.B) {
	for _, n := range []int{1000, 9000} {
		b.Run(fmt.Sprintf("N=%d", n), func(b *testing.B) {
			r := newFanoutRig(b, n)
			defer r.close()
			hub := r.app.Hub()
			r.publishN(b, n)
			b.ReportMetric(float64(testing.AllocsPerRun(1, func() {
				_, _, _ = hub.PublishWait(broadcast.ToRoom("b"), "x", benchData)
			}))/float64(n), "allocs/delivery")
		})
	}
}

// publishN times b.N publishes of benchData to the rig's room of n and
// reports the time per delivery.
func (r *fanoutRig) publishN(b *testing.B, n int) {
	hub := r.app.Hub()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, got, err := hub.PublishWait(broadcast.ToRoom("b"), "x", benchData); err != nil || got != n {
			b.Fatalf("publish: %d targets, %v", got, err)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/delivery")
}

// BenchmarkBroadcastChunk is BenchmarkBroadcast at 9,000 targets with
// other fan-out chunk sizes (the default is 1,024): fewer, larger tasks
// hand off less between the pool's goroutines; more, smaller ones spread
// a broadcast over the threads sooner.
func BenchmarkBroadcastChunk(b *testing.B) {
	const n = 9000
	for _, chunk := range []int{256, 1024, 4096, 9000} {
		b.Run(fmt.Sprintf("chunk=%d", chunk), func(b *testing.B) {
			r := newFanoutRigHub(b, n, broadcast.Config{ChunkSize: chunk})
			defer r.close()
			r.publishN(b, n)
		})
	}
}

// BenchmarkRawWrite writes the same 64-byte frame with one write(2) per
// socket to the same server-side sockets, in one loop: the floor.
func BenchmarkRawWrite(b *testing.B) {
	for _, n := range []int{1000, 9000} {
		b.Run(fmt.Sprintf("N=%d", n), func(b *testing.B) {
			r := newFanoutRig(b, n)
			defer r.close()
			frame := sampleFrame(b)
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				for _, fd := range r.server {
					if _, err := unix.Write(fd, frame); err != nil {
						b.Fatal(err)
					}
				}
			}
			b.StopTimer()
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/delivery")
		})
	}
}

// sampleFrame returns the frame the Hub builds for benchData.
func sampleFrame(tb testing.TB) []byte {
	rec := &frameRecorder{}
	h, err := broadcast.New(broadcast.Config{MaxFDs: 8}, rec)
	if err != nil {
		tb.Fatal(err)
	}
	defer h.Close()
	c := broadcast.ConnID{FD: 1, Gen: 1}
	_ = h.Register(c, "")
	_, _ = h.Join(c, "b", false)
	_, _, _ = h.PublishWait(broadcast.ToRoom("b"), "x", benchData)
	return rec.frame
}

// TestBenchFrame checks the benchmarks' frame: a 64-byte message in one
// unmasked text frame.
func TestBenchFrame(t *testing.T) {
	f := sampleFrame(t)
	if len(benchData) != 64 || f[0] != 0x81 || !bytes.Contains(f, benchData) {
		t.Fatalf("frame %q", f)
	}
}

type frameRecorder struct{ frame []byte }

func (f *frameRecorder) Send(_ broadcast.ConnID, frame []byte) error {
	f.frame = append([]byte(nil), frame...)
	return nil
}
func (*frameRecorder) CloseSlow(broadcast.ConnID) {}
