package broadcast

import (
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/panjf2000/ants/v2"
)

// Hub is the registry and the fan-out of one server. All methods are safe
// for concurrent use.
type Hub struct {
	cfg    Config
	sender Sender
	pool   *ants.PoolWithFunc

	// members is indexed by fd: what the hub knows of each connection.
	members []member

	mu    sync.RWMutex // guards rooms and users (the maps, not their contents)
	rooms map[string]*room
	users map[string]*user
	all   stream

	presMu    sync.Mutex
	presDirty map[*room]struct{}
	stop      chan struct{}
	stopped   sync.WaitGroup
	closed    atomic.Bool

	st counters
}

// counters are the Hub's totals, exported through Stats.
type counters struct {
	published, deliveries, dropped, slowClosed, inlineChunks, gapNotices, refusedFull atomic.Int64
	backlog                                                                           atomic.Int64
}

// Stats is a snapshot of the Hub's counters and sizes.
type Stats struct {
	Rooms, Users int
	// Published counts messages accepted by Publish; Deliveries the
	// frames handed to connections; Dropped the deliveries skipped under
	// PolicyDrop; SlowClosed the connections closed under PolicyClose.
	Published, Deliveries, Dropped, SlowClosed int64
	// InlineChunks counts fan-out chunks run by the publishing task
	// because the pool was full; GapNotices the gap notices sent;
	// RoomFull the joins refused by MaxRoomMembers.
	InlineChunks, GapNotices, RoomFull int64
	// Backlog is the number of messages waiting in stream queues.
	Backlog int64
}

// New creates a Hub delivering through s.
func New(cfg Config, s Sender) (*Hub, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	pool, err := ants.NewPoolWithFunc(cfg.Workers, runTask, ants.WithNonblocking(true), ants.WithPreAlloc(true))
	if err != nil {
		return nil, fmt.Errorf("cannot create fan-out pool: %w", err)
	}
	h := &Hub{
		cfg:       cfg,
		sender:    s,
		pool:      pool,
		members:   make([]member, cfg.MaxFDs),
		rooms:     map[string]*room{},
		users:     map[string]*user{},
		presDirty: map[*room]struct{}{},
		stop:      make(chan struct{}),
	}
	h.all.target = ToAll()
	h.stopped.Add(1)
	go h.presenceLoop()
	return h, nil
}

// Close stops the presence ticker and the pool. Publish fails afterwards.
func (h *Hub) Close() {
	if !h.closed.CompareAndSwap(false, true) {
		return
	}
	close(h.stop)
	h.stopped.Wait()
	h.pool.Release()
}

// Stats returns the current counters.
func (h *Hub) Stats() Stats {
	h.mu.RLock()
	rooms, users := len(h.rooms), len(h.users)
	h.mu.RUnlock()
	return Stats{
		Rooms: rooms, Users: users,
		Published: h.st.published.Load(), Deliveries: h.st.deliveries.Load(),
		Dropped: h.st.dropped.Load(), SlowClosed: h.st.slowClosed.Load(),
		InlineChunks: h.st.inlineChunks.Load(), GapNotices: h.st.gapNotices.Load(),
		RoomFull: h.st.refusedFull.Load(), Backlog: h.st.backlog.Load(),
	}
}

// Policy returns the slow-consumer policy.
func (h *Hub) Policy() Policy { return h.cfg.Policy }

func (h *Hub) validName(s string) bool { return s != "" && len(s) <= h.cfg.MaxNameLen }

func nowMillis() int64 { return time.Now().UnixMilli() }
