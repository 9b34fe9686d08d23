//go:build linux

package poller

import (
	"fmt"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"unsafe"

	"golang.org/x/sys/unix"
)

// ListenConfig tunes a raw listening socket. The zero value is usable.
type ListenConfig struct {
	// ReusePort sets SO_REUSEPORT so that several sockets (one per loop, or
	// one per process) can bind the same address and the kernel spreads new
	// connections across them.
	ReusePort bool
	// Backlog is the accept queue length; 0 reads net.core.somaxconn, which
	// caps it anyway (listen(2)).
	Backlog int
	// ProcRoot is where /proc is found ("" = "/proc"), for tests.
	ProcRoot string
}

// Listen opens a non-blocking TCP listening socket on addr ("host:port";
// IPv4 or IPv6 literal, or "localhost") and returns its fd, which the caller
// owns. SO_REUSEADDR is always set so that a restarted server can bind while
// old connections sit in TIME_WAIT.
func Listen(addr string, cfg ListenConfig) (fd int, err error) {
	sa, family, err := resolve(addr)
	if err != nil {
		return -1, err
	}
	fd, err = unix.Socket(family, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, unix.IPPROTO_TCP)
	if err != nil {
		return -1, fmt.Errorf("cannot create listening socket: %w", os.NewSyscallError("socket", err))
	}
	defer func() {
		if err != nil {
			_ = unix.Close(fd)
			fd = -1
		}
	}()
	if err = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_REUSEADDR, 1); err != nil {
		return -1, fmt.Errorf("cannot set SO_REUSEADDR: %w", os.NewSyscallError("setsockopt", err))
	}
	if cfg.ReusePort {
		if err = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_REUSEPORT, 1); err != nil {
			return -1, fmt.Errorf("cannot set SO_REUSEPORT: %w", os.NewSyscallError("setsockopt", err))
		}
	}
	if err = unix.Bind(fd, sa); err != nil {
		return -1, fmt.Errorf("cannot bind %s: %w", addr, os.NewSyscallError("bind", err))
	}
	backlog := cfg.Backlog
	if backlog <= 0 {
		backlog = Somaxconn(cfg.ProcRoot)
	}
	if err = unix.Listen(fd, backlog); err != nil {
		return -1, fmt.Errorf("cannot listen on %s: %w", addr, os.NewSyscallError("listen", err))
	}
	return fd, nil
}

// Somaxconn reads net.core.somaxconn, falling back to 4096 (the kernel
// default since Linux 5.4) when it cannot be read.
func Somaxconn(procRoot string) int {
	if procRoot == "" {
		procRoot = "/proc"
	}
	b, err := os.ReadFile(procRoot + "/sys/net/core/somaxconn")
	if err != nil {
		return 4096
	}
	n, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || n <= 0 {
		return 4096
	}
	return n
}

func resolve(addr string) (unix.Sockaddr, int, error) {
	host, portStr, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, 0, fmt.Errorf("cannot parse listen address %q: %w", addr, err)
	}
	port, err := strconv.ParseUint(portStr, 10, 16)
	if err != nil {
		return nil, 0, fmt.Errorf("cannot parse port in %q: %w", addr, err)
	}
	switch host {
	case "", "0.0.0.0":
		return &unix.SockaddrInet4{Port: int(port)}, unix.AF_INET, nil
	case "localhost":
		host = "127.0.0.1"
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return nil, 0, fmt.Errorf("cannot parse host in %q (want an IP literal or localhost): %w", addr, err)
	}
	if ip.Is4() || ip.Is4In6() {
		return &unix.SockaddrInet4{Port: int(port), Addr: ip.Unmap().As4()}, unix.AF_INET, nil
	}
	return &unix.SockaddrInet6{Port: int(port), Addr: ip.As16()}, unix.AF_INET6, nil
}

// Accept takes one pending connection from a non-blocking listener with
// accept4(SOCK_NONBLOCK|SOCK_CLOEXEC). It does not ask for the peer's
// address (unix.Accept4 allocates one per call; callers that want it use
// getpeername). It returns unix.EAGAIN (unwrapped, compare with errors.Is)
// when the queue is empty. ECONNABORTED and EINTR are retried here.
// EMFILE/ENFILE come back wrapped so that the caller can back off.
func Accept(lfd int) (int, error) {
	for {
		nfd, _, e := unix.Syscall6(unix.SYS_ACCEPT4, uintptr(lfd), 0, 0, unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0, 0)
		switch e {
		case 0:
			return int(nfd), nil
		case unix.EINTR, unix.ECONNABORTED:
			continue
		case unix.EAGAIN:
			return -1, unix.EAGAIN
		default:
			return -1, os.NewSyscallError("accept4", e)
		}
	}
}

// AcceptFrom is Accept that also returns the peer's address, read into a
// caller-owned raw sockaddr so that nothing is allocated.
func AcceptFrom(lfd int, raw *unix.RawSockaddrAny) (int, PeerAddr, error) {
	for {
		alen := uint32(unix.SizeofSockaddrAny)
		nfd, _, e := unix.Syscall6(unix.SYS_ACCEPT4, uintptr(lfd), uintptr(unsafe.Pointer(raw)), uintptr(unsafe.Pointer(&alen)),
			unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0, 0)
		switch e {
		case 0:
			return int(nfd), peerOf(raw), nil
		case unix.EINTR, unix.ECONNABORTED:
			continue
		case unix.EAGAIN:
			return -1, PeerAddr{}, unix.EAGAIN
		default:
			return -1, PeerAddr{}, os.NewSyscallError("accept4", e)
		}
	}
}

var v4InV6 = [12]byte{10: 0xff, 11: 0xff}

func peerOf(raw *unix.RawSockaddrAny) PeerAddr {
	var a PeerAddr
	switch raw.Addr.Family {
	case unix.AF_INET:
		sa := (*unix.RawSockaddrInet4)(unsafe.Pointer(raw))
		copy(a.IP[:4], sa.Addr[:])
		a.N = 4
	case unix.AF_INET6:
		sa := (*unix.RawSockaddrInet6)(unsafe.Pointer(raw))
		if [12]byte(sa.Addr[:12]) == v4InV6 {
			copy(a.IP[:4], sa.Addr[12:])
			a.N = 4
		} else {
			a.IP = sa.Addr
			a.N = 16
		}
	}
	return a
}

// LocalPort returns the port a listening fd is bound to (useful with ":0").
func LocalPort(fd int) (int, error) {
	sa, err := unix.Getsockname(fd)
	if err != nil {
		return 0, os.NewSyscallError("getsockname", err)
	}
	switch a := sa.(type) {
	case *unix.SockaddrInet4:
		return a.Port, nil
	case *unix.SockaddrInet6:
		return a.Port, nil
	}
	return 0, fmt.Errorf("cannot read port: unexpected address family %T", sa)
}
