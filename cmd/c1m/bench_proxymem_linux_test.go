//go:build linux

package main

import (
	"bytes"
	"net/netip"
	"strconv"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"c1m/internal/c1mtest"
)

// BenchmarkIdleMemoryProxyProtocol measures what an idle connection costs
// a `c1m serve` process (app handler) in resident memory, with and without
// --proxy-protocol, whose address table takes 20 bytes per connection:
// the server's RSS growth over 15,000 connections, divided by them, and
// the server's own c1m_memory_per_connection_bytes. Each run starts a
// fresh server process.
//
//	go test -run '^$' -bench IdleMemoryProxyProtocol -benchtime 1x -count 3 ./cmd/c1m
func BenchmarkIdleMemoryProxyProtocol(b *testing.B) {
	const n, warm = 15000, 200
	for _, proxy := range []bool{false, true} {
		name := "plain"
		if proxy {
			name = "proxy-protocol"
		}
		b.Run(name, func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				p := c1mtest.Serve(b, func(addr, maddr string) []string {
					args := []string{"serve", "--auth=none", "--addr", addr, "--metrics-addr", maddr, "--api-addr", "-", "--ping-interval=10m", "--log-level=warn"}
					if proxy {
						args = append(args, "--proxy-protocol")
					}
					return args
				})
				ap := netip.MustParseAddrPort(p.Addr)
				sa := &unix.SockaddrInet4{Port: int(ap.Port()), Addr: ap.Addr().As4()}
				req := []byte(c1mtest.UpgradeRequest(p.Addr, "/ws"))
				fds := make([]int, 0, n)
				b.Cleanup(func() {
					for _, fd := range fds {
						_ = unix.Close(fd)
					}
				})
				buf := make([]byte, 4096)
				open := func(k int) {
					for j := 0; j < k; j++ {
						fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
						if err != nil {
							b.Fatal(err)
						}
						if err := unix.Connect(fd, sa); err != nil {
							b.Fatal(err)
						}
						fds = append(fds, fd)
						msg := req
						if proxy {
							src := netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 1, byte(j >> 8), byte(j)}), 50000)
							msg = append(proxyV2Header(src), req...)
						}
						if _, err := unix.Write(fd, msg); err != nil {
							b.Fatal(err)
						}
						m, err := unix.Read(fd, buf)
						if err != nil || !bytes.HasPrefix(buf[:m], []byte("HTTP/1.1 101")) {
							b.Fatalf("connection %d: %q %v", len(fds), buf[:max(m, 0)], err)
						}
					}
				}
				open(warm)
				base := p.RSS()
				open(n - warm)
				c1mtest.Eventually(b, 30*time.Second, func() bool { return p.Metric("c1m_connections") == n }, c1mtest.Say(strconv.Itoa(n)+" connections open"))
				rss := p.RSS()
				b.ReportMetric(float64(rss-base)/float64(n-warm), "rss-bytes/conn")
				b.ReportMetric(p.Metric("c1m_memory_per_connection_bytes"), "server-bytes/conn")
			}
		})
	}
}
