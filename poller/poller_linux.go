//go:build linux

package poller

import (
	"fmt"
	"os"
	"sync/atomic"

	"golang.org/x/sys/unix"
)

// maxEvents is how many ready fds one epoll_wait returns at most. A larger
// batch amortises the syscall; 1,024 events × 12 bytes stays well inside
// one loop's cache footprint.
const maxEvents = 1024

// Poller is one epoll instance plus an eventfd used to wake its loop.
//
// Ownership: the Poller owns its epoll fd and eventfd and closes them in
// Close. It does not own the fds registered with it; the caller closes
// those (close(2) also removes an fd from every epoll set).
//
// Concurrency: Wait must be called by one goroutine at a time (the loop).
// Add, Mod, Del and Wake are safe from any goroutine.
type Poller struct {
	epfd   int
	wakefd int
	closed atomic.Bool
	woken  atomic.Bool
	events []unix.EpollEvent
	wakeb  [8]byte
}

// New creates a Poller. It fails only when the kernel refuses epoll_create1
// or eventfd (usually EMFILE).
func New() (*Poller, error) {
	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("cannot create epoll instance: %w", os.NewSyscallError("epoll_create1", err))
	}
	wfd, err := unix.Eventfd(0, unix.EFD_NONBLOCK|unix.EFD_CLOEXEC)
	if err != nil {
		_ = unix.Close(epfd)
		return nil, fmt.Errorf("cannot create eventfd: %w", os.NewSyscallError("eventfd", err))
	}
	p := &Poller{epfd: epfd, wakefd: wfd, events: make([]unix.EpollEvent, maxEvents)}
	ev := unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(wfd)}
	if err := unix.EpollCtl(epfd, unix.EPOLL_CTL_ADD, wfd, &ev); err != nil {
		_ = unix.Close(wfd)
		_ = unix.Close(epfd)
		return nil, fmt.Errorf("cannot register eventfd: %w", os.NewSyscallError("epoll_ctl", err))
	}
	return p, nil
}

// toEpoll maps Events to epoll bits. EPOLLRDHUP comes with EventRead, so
// that a half-closed peer is noticed without a read; without EventRead it
// is left out, or a peer's FIN would wake a loop that does not read it
// (level-triggered) again and again. EPOLLERR and EPOLLHUP are always
// reported by the kernel.
func toEpoll(ev Events) uint32 {
	var e uint32
	if ev&EventRead != 0 {
		e |= unix.EPOLLIN | unix.EPOLLRDHUP
	}
	if ev&EventWrite != 0 {
		e |= unix.EPOLLOUT
	}
	return e
}

func fromEpoll(e uint32) Events {
	var ev Events
	if e&unix.EPOLLIN != 0 {
		ev |= EventRead
	}
	if e&unix.EPOLLOUT != 0 {
		ev |= EventWrite
	}
	if e&(unix.EPOLLRDHUP|unix.EPOLLHUP) != 0 {
		ev |= EventHup
	}
	if e&unix.EPOLLERR != 0 {
		ev |= EventErr
	}
	return ev
}

// Add registers fd for ev (level-triggered).
func (p *Poller) Add(fd int, ev Events) error {
	e := unix.EpollEvent{Events: toEpoll(ev), Fd: int32(fd)}
	if err := unix.EpollCtl(p.epfd, unix.EPOLL_CTL_ADD, fd, &e); err != nil {
		return os.NewSyscallError("epoll_ctl add", err)
	}
	return nil
}

// AddExclusive registers a listening fd shared by several Pollers with
// EPOLLEXCLUSIVE, so that one pending connection wakes one loop instead of
// all of them (epoll_ctl(2), since Linux 4.5).
func (p *Poller) AddExclusive(fd int) error {
	e := unix.EpollEvent{Events: unix.EPOLLIN | unix.EPOLLEXCLUSIVE, Fd: int32(fd)}
	if err := unix.EpollCtl(p.epfd, unix.EPOLL_CTL_ADD, fd, &e); err != nil {
		return os.NewSyscallError("epoll_ctl add", err)
	}
	return nil
}

// Mod changes the events fd is registered for.
func (p *Poller) Mod(fd int, ev Events) error {
	e := unix.EpollEvent{Events: toEpoll(ev), Fd: int32(fd)}
	if err := unix.EpollCtl(p.epfd, unix.EPOLL_CTL_MOD, fd, &e); err != nil {
		return os.NewSyscallError("epoll_ctl mod", err)
	}
	return nil
}

// Del removes fd. Closing an fd removes it too; Del exists for fds that are
// kept open (a listener that stops accepting while draining).
func (p *Poller) Del(fd int) error {
	if err := unix.EpollCtl(p.epfd, unix.EPOLL_CTL_DEL, fd, nil); err != nil {
		return os.NewSyscallError("epoll_ctl del", err)
	}
	return nil
}

// Wake makes the loop's current or next Wait return early with a callback
// for WakeFD. Wakes that arrive before the loop runs are coalesced into one.
func (p *Poller) Wake() error {
	if !p.woken.CompareAndSwap(false, true) {
		return nil
	}
	one := [8]byte{1}
	for {
		_, err := unix.Write(p.wakefd, one[:])
		if err == unix.EINTR {
			continue
		}
		if err != nil && err != unix.EAGAIN {
			return os.NewSyscallError("write eventfd", err)
		}
		return nil
	}
}

// Wait blocks for up to timeoutMs milliseconds (-1: forever) and calls cb
// once for every ready fd, in the kernel's order: Poll, then Dispatch. A
// wake-up is delivered as cb(WakeFD, EventRead). EINTR is retried as a
// zero-event return. If cb returns an error, Wait stops and returns it;
// the remaining events of this batch are dropped, and (being
// level-triggered) reported again next time.
func (p *Poller) Wait(timeoutMs int, cb func(fd int, ev Events) error) error {
	n, err := p.Poll(timeoutMs)
	if err != nil {
		return err
	}
	return p.Dispatch(n, cb)
}

// Poll blocks for up to timeoutMs milliseconds (-1: forever) until fds are
// ready and returns how many, for Dispatch. Splitting the two lets a loop
// time its work (Dispatch) apart from its waiting (Poll).
func (p *Poller) Poll(timeoutMs int) (int, error) {
	if p.closed.Load() {
		return 0, ErrClosed
	}
	n, err := unix.EpollWait(p.epfd, p.events, timeoutMs)
	if err != nil {
		if err == unix.EINTR {
			return 0, nil
		}
		if p.closed.Load() {
			return 0, ErrClosed
		}
		return 0, os.NewSyscallError("epoll_wait", err)
	}
	return n, nil
}

// Dispatch calls cb for the n events the last Poll returned (see Wait).
func (p *Poller) Dispatch(n int, cb func(fd int, ev Events) error) error {
	for i := 0; i < n; i++ {
		e := &p.events[i]
		fd := int(e.Fd)
		if fd == p.wakefd {
			// Drain the counter before the callback so that a Wake racing
			// with it is not lost: the flag is cleared first, then the
			// eventfd is read; a later Wake writes again.
			p.woken.Store(false)
			_, _ = unix.Read(p.wakefd, p.wakeb[:])
			if err := cb(WakeFD, EventRead); err != nil {
				return err
			}
			continue
		}
		if err := cb(fd, fromEpoll(e.Events)); err != nil {
			return err
		}
	}
	return nil
}

// Close releases the epoll fd and the eventfd; later Waits return
// ErrClosed. Close is idempotent. It must not race with a Wait in progress
// (closing an epoll fd does not interrupt epoll_wait, and the fd number could
// be reused): stop the loop first (Wake it and let it return), then Close.
func (p *Poller) Close() error {
	if !p.closed.CompareAndSwap(false, true) {
		return nil
	}
	err1 := unix.Close(p.wakefd)
	err2 := unix.Close(p.epfd)
	if err1 != nil {
		return os.NewSyscallError("close eventfd", err1)
	}
	if err2 != nil {
		return os.NewSyscallError("close epoll", err2)
	}
	return nil
}
