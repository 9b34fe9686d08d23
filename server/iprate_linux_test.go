//go:build linux

package server

import (
	"bufio"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"c1m/internal/c1mtest"
	"c1m/poller"
)

// TestAcceptRatePerIP: past its burst an address gets HTTP 429 for its new
// connections, counted; another address is not affected.
func TestAcceptRatePerIP(t *testing.T) {
	s := startServer(t, Config{AcceptRatePerIP: 0.01}) // burst 8, no refill within the test
	status := func(src string) int {
		t.Helper()
		d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}, Timeout: 5 * time.Second}
		c, err := d.Dial("tcp", "127.0.0.1:"+strconv.Itoa(s.Port()))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		_ = c.SetDeadline(time.Now().Add(10 * time.Second))
		if _, err := c.Write([]byte(c1mtest.UpgradeRequest("localhost", DefaultPath))); err != nil {
			t.Fatal(err)
		}
		line, err := bufio.NewReader(c).ReadString('\n')
		if err != nil {
			t.Fatalf("from %s: %v", src, err)
		}
		code, _ := strconv.Atoi(strings.Fields(line)[1])
		return code
	}
	var got []int
	for i := 0; i < 12; i++ {
		got = append(got, status("127.0.0.1"))
	}
	want := []int{101, 101, 101, 101, 101, 101, 101, 101, 429, 429, 429, 429}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("12 connections from 127.0.0.1 answered %v, want %v (burst 8)", got, want)
		}
	}
	if code := status("127.0.0.2"); code != 101 {
		t.Fatalf("another address got %d, want 101", code)
	}
	if got := s.m.hsFailures[hsRateLimited].Get(); got != 4 {
		t.Fatalf("rate_limited handshake failures %d, want 4", got)
	}
}

// TestIPKey: IPv4 and IPv4-mapped IPv6 are one address; IPv6 counts per
// /64.
func TestIPKey(t *testing.T) {
	v4 := poller.PeerAddr{N: 4}
	copy(v4.IP[:], []byte{10, 1, 2, 3})
	a := poller.PeerAddr{N: 16, IP: [16]byte{0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1}}
	b := a
	b.IP[15] = 2 // same /64
	c := a
	c.IP[7] = 2 // another /64
	if ipKey(v4) == 0 || ipKey(a) != ipKey(b) || ipKey(a) == ipKey(c) || ipKey(poller.PeerAddr{}) != 0 {
		t.Fatalf("keys: v4 %x, a %x, b %x, c %x", ipKey(v4), ipKey(a), ipKey(b), ipKey(c))
	}
}
