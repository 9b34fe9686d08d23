//go:build !linux

package poller

// Poller is unavailable off Linux; every constructor returns ErrUnsupported
// so that packages importing poller still compile and unit-test anywhere.
type Poller struct{}

// ListenConfig mirrors the Linux type.
type ListenConfig struct {
	ReusePort bool
	Backlog   int
	ProcRoot  string
}

// New returns ErrUnsupported.
func New() (*Poller, error) { return nil, ErrUnsupported }

// Add returns ErrUnsupported.
func (p *Poller) Add(fd int, ev Events) error { return ErrUnsupported }

// AddExclusive returns ErrUnsupported.
func (p *Poller) AddExclusive(fd int) error { return ErrUnsupported }

// Mod returns ErrUnsupported.
func (p *Poller) Mod(fd int, ev Events) error { return ErrUnsupported }

// Del returns ErrUnsupported.
func (p *Poller) Del(fd int) error { return ErrUnsupported }

// Wake returns ErrUnsupported.
func (p *Poller) Wake() error { return ErrUnsupported }

// Wait returns ErrUnsupported.
func (p *Poller) Wait(timeoutMs int, cb func(fd int, ev Events) error) error { return ErrUnsupported }

// Poll returns ErrUnsupported.
func (p *Poller) Poll(timeoutMs int) (int, error) { return 0, ErrUnsupported }

// Dispatch returns ErrUnsupported.
func (p *Poller) Dispatch(n int, cb func(fd int, ev Events) error) error { return ErrUnsupported }

// Close returns nil.
func (p *Poller) Close() error { return nil }

// Listen returns ErrUnsupported.
func Listen(addr string, cfg ListenConfig) (int, error) { return -1, ErrUnsupported }

// LocalPort returns ErrUnsupported.
func LocalPort(fd int) (int, error) { return 0, ErrUnsupported }
