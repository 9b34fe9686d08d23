// Package poller is c1m's event-loop primitive: an epoll instance with an
// eventfd wake-up, and raw non-blocking listening sockets accepted with
// accept4. It knows nothing of WebSocket and owns no connection state.
//
// A Poller is driven by exactly one goroutine (its loop), which calls Wait
// in a loop; Add, Mod, Del and Wake may be called from any goroutine because
// epoll_ctl(2) and write(2) on an eventfd are thread-safe.
//
// Usage:
//
//	p, err := poller.New()
//	if err != nil { ... }
//	defer p.Close()
//	ln, err := poller.Listen("127.0.0.1:8080", poller.ListenConfig{})
//	if err != nil { ... }
//	_ = p.Add(ln, poller.EventRead)
//	for {
//		err := p.Wait(100, func(fd int, ev poller.Events) error {
//			if fd == ln {
//				nfd, err := poller.Accept(ln)
//				...
//			}
//			return nil
//		})
//		if errors.Is(err, poller.ErrClosed) { return }
//	}
package poller
