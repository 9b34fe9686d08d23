//go:build linux

package server

import (
	"runtime"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"

	"c1m/internal/c1mtest"
	"c1m/wsproto"
)

// TestSlotBudget holds the idle connection's user-space state to the
// budget in ARCHITECTURE.md: at most 256 bytes, aiming at 128.
func TestSlotBudget(t *testing.T) {
	const budget, aim = 256, 128
	size := unsafe.Sizeof(slot{})
	if size > budget {
		t.Fatalf("slot is %d bytes, over the %d-byte budget", size, budget)
	}
	if size > aim {
		t.Logf("slot is %d bytes: within budget, above the %d-byte aim", size, aim)
	}
	t.Logf("slot: %d bytes; pooled while mid-frame only: wsproto.Reader %d bytes", size, unsafe.Sizeof(wsproto.Reader{}))
}

// TestUpgradeAllocs: an upgrade allocates nothing; the connection's slot
// already exists in the fd table. It measures the whole process, server
// loops included, while a raw client connects, upgrades, and closes.
func TestUpgradeAllocs(t *testing.T) {
	c1mtest.SkipAllocsUnderRace(t)
	s := startServer(t, Config{Loops: 1})
	c := dialRaw(t, s) // warm the pools and the loop
	c.upgrade()
	c.Close()
	c1mtest.Eventually(t, 5e9, func() bool { return s.Stats().Sockets == 0 }, c1mtest.Say("warm-up socket freed"))
	c = dialRaw(t, s)
	c.Close()
	req := []byte(upgradeRequest)
	// Preallocate the client's pieces; the cycle is socket, connect,
	// write, read the 101, close: no allocation on the client side.
	buf := make([]byte, 4096)
	sa := &unix.SockaddrInet4{Port: s.Port(), Addr: [4]byte{127, 0, 0, 1}}
	allocs := testing.AllocsPerRun(50, func() {
		fd := rawConnect(t, sa)
		writeAll(t, fd, req)
		readHead(t, fd, buf)
		closeFD(fd)
	})
	c1mtest.Eventually(t, 5e9, func() bool { return s.Stats().Sockets == 0 }, c1mtest.Say("sockets freed"))
	if allocs != 0 {
		t.Fatalf("%.1f allocations per upgrade, want 0", allocs)
	}
}

// TestReadPathAllocs: a message read, parsed, handed to the handler and
// echoed allocates nothing, whether the frame arrives whole or split.
func TestReadPathAllocs(t *testing.T) {
	c1mtest.SkipAllocsUnderRace(t)
	s := startServer(t, Config{Loops: 1})
	c := dialUpgraded(t, s)
	frame := wsproto.AppendMaskedFrame(nil, true, wsproto.OpBinary, make([]byte, 200), testKey)
	round := func() {
		writeAll(t, c.FD(), frame)
		if !c.readEvent() {
			t.Fatal("no echo")
		}
	}
	round()
	if a := testing.AllocsPerRun(200, round); a != 0 {
		t.Fatalf("%.1f allocations per echoed frame, want 0", a)
	}
	// Split frames go through the pooled Reader: steady state is free too.
	split := func() {
		// Wait until the server has read the first part, so that it
		// really holds a partial frame between two reads.
		in := s.m.bytesIn.Get()
		writeAll(t, c.FD(), frame[:50])
		for s.m.bytesIn.Get() < in+50 {
			runtime.Gosched()
		}
		writeAll(t, c.FD(), frame[50:])
		if !c.readEvent() {
			t.Fatal("no echo")
		}
	}
	split()
	if a := testing.AllocsPerRun(200, split); a != 0 {
		t.Fatalf("%.1f allocations per split frame, want 0", a)
	}
}

func rawConnect(t testing.TB, sa *unix.SockaddrInet4) int {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	_ = unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_NODELAY, 1)
	if err := unix.Connect(fd, sa); err != nil {
		t.Fatal(err)
	}
	return fd
}

func writeAll(t testing.TB, fd int, b []byte) {
	for len(b) > 0 {
		n, err := unix.Write(fd, b)
		if err != nil {
			t.Fatal(err)
		}
		b = b[n:]
	}
}

// readHead reads until the end of an HTTP head and checks for 101.
func readHead(t testing.TB, fd int, buf []byte) {
	n := 0
	for {
		m, err := unix.Read(fd, buf[n:])
		if err != nil || m == 0 {
			t.Fatalf("read head: %v", err)
		}
		n += m
		if wsproto.RequestEnd(buf[:n]) >= 0 {
			break
		}
	}
	if string(buf[9:12]) != "101" {
		t.Fatalf("status %q, want 101", buf[9:12])
	}
}

func closeFD(fd int) { _ = unix.Close(fd) }
