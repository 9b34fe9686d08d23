package bench

import (
	"fmt"
	"net/netip"
	"time"
)

// WorkerConfig configures one client worker (one process holds one).
type WorkerConfig struct {
	Targets []Target
	// Conns is how many connections this worker opens and holds.
	Conns int
	// First is this worker's global index of its first connection, so
	// that workers pick disjoint source address/port pairs.
	First int
	// Sources are the local addresses connections are bound to.
	Sources []netip.Addr
	// PortBase..PortMax is the source-port range per address.
	PortBase, PortMax int
	// Rate caps connects per second (0: no cap).
	Rate int
	// MaxInFlight caps connects and handshakes under way at once.
	MaxInFlight int
	// Retries is how many times a failed connection is retried, with
	// exponential backoff from 50 ms to 2 s.
	Retries int
	// Probes is how many of the connections (the first ones) ping every
	// 20 ms and record the round trips: the event loop's responsiveness.
	Probes int
	// SlowFraction designates the connections that the slow scenario will
	// make stop reading; they get a small receive buffer from the start.
	SlowFraction float64
	// Total is the connection count over all workers; churn offsets a
	// reconnection's endpoint by it. 0 means First+Conns.
	Total int
	// Minter, when set, gives every connection its own token (user id
	// bench-<global index>), all minted before the first connect and sent
	// as the token subprotocol.
	Minter *Minter
	// WaitStart holds the connects, once the tokens are minted, until the
	// "start" command, so that the orchestrator times the ramp alone.
	WaitStart bool
	// EndpointFirst and EndpointTotal place the connections among this
	// host's source addresses and ports (Endpoint): connection idx takes
	// index EndpointFirst+idx, plus EndpointTotal per churn round. An
	// agent's workers count from the start of the agent's share, so that
	// each agent has its whole port range whatever its global First.
	// EndpointTotal 0 means First and Total (every worker on one host).
	EndpointFirst, EndpointTotal int
	// ClockOffset is this host's clock minus the publisher's, as the
	// orchestrator measured it (zero on the orchestrator's own box); it is
	// subtracted from every delivery's receive time. The "clock" command
	// replaces it.
	ClockOffset time.Duration
	// ClockSkew is a test aid: it moves this worker's clock by that much,
	// as a host whose clock is off would be (zero in real runs).
	ClockSkew time.Duration
}

func (c WorkerConfig) total() int {
	if c.Total > 0 {
		return c.Total
	}
	return c.First + c.Conns
}

// endpoint is the Endpoint index of connection idx in its round-th
// reconnection (see EndpointFirst).
func (c WorkerConfig) endpoint(idx int, round uint8) int {
	if c.EndpointTotal > 0 {
		return c.EndpointFirst + idx + int(round)*c.EndpointTotal
	}
	return c.First + idx + int(round)*c.total()
}

// Defaults for WorkerConfig's zero fields.
const (
	DefaultPortBase    = 10000
	DefaultPortMax     = 60999
	DefaultMaxInFlight = 2048
	DefaultRetries     = 5
)

func (c WorkerConfig) withDefaults() (WorkerConfig, error) {
	if len(c.Targets) == 0 {
		return c, fmt.Errorf("cannot start worker: no target")
	}
	if c.Conns <= 0 {
		return c, fmt.Errorf("cannot start worker: conns must be positive, got %d", c.Conns)
	}
	if len(c.Sources) == 0 {
		c.Sources = DefaultSources()
	}
	if c.PortBase == 0 {
		c.PortBase = DefaultPortBase
	}
	if c.PortMax == 0 {
		c.PortMax = DefaultPortMax
	}
	if c.MaxInFlight == 0 {
		c.MaxInFlight = DefaultMaxInFlight
	}
	if c.Retries == 0 {
		c.Retries = DefaultRetries
	}
	if c.PortBase < 1 || c.PortMax > 65535 || c.PortMax < c.PortBase {
		return c, fmt.Errorf("cannot start worker: source ports %d-%d are not a range of 1-65535", c.PortBase, c.PortMax)
	}
	if _, _, err := Endpoint(c.Sources, c.PortBase, c.PortMax, c.endpoint(c.Conns-1, 0)); err != nil {
		return c, err
	}
	return c, nil
}

// Progress is a worker's counters at one moment, as reported to the
// orchestrator (one JSON line each).
type Progress struct {
	Type     string    `json:"type"` // "progress"
	T        time.Time `json:"t"`
	Open     int       `json:"open"`     // connections upgraded and held
	Pending  int       `json:"pending"`  // connecting or handshaking
	Failed   int       `json:"failed"`   // gave up after retries
	Retries  int       `json:"retries"`  // attempts that were retried
	Closed   int       `json:"closed"`   // closed by the server after opening
	Messages int64     `json:"messages"` // data messages received
	Pings    int64     `json:"pings"`    // pings answered
	Done     bool      `json:"done"`     // every connection opened or failed
	// Published counts the room_message frames of the current "publish"
	// command sent so far, PublishFailed those it could not send (the
	// publishing connection was gone); PublishDone says it is over,
	// after PublishSeconds.
	Published      int64   `json:"published,omitempty"`
	PublishFailed  int64   `json:"publish_failed,omitempty"`
	PublishDone    bool    `json:"publish_done,omitempty"`
	PublishSeconds float64 `json:"publish_seconds,omitempty"`
	// Ready: the tokens are minted (Minted of them, in MintSeconds) and
	// the worker connects, or waits for "start" (WaitStart).
	Ready       bool    `json:"ready"`
	Minted      int     `json:"minted,omitempty"`
	MintSeconds float64 `json:"mint_seconds,omitempty"`
	LastErr     string  `json:"last_err,omitempty"`
}
