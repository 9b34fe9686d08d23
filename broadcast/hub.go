package broadcast

import (
	"context"
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
	draining  atomic.Bool
	start     time.Time // the monotonic origin of delivery.at

	st counters
}

// counters are the Hub's totals, exported through Stats.
type counters struct {
	published, deliveries, dropped, slowClosed, inlineChunks, gapNotices, refusedFull atomic.Int64
	backlog                                                                           atomic.Int64
	running                                                                           atomic.Int64 // stream drains in progress
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
	// Backlog is the number of messages waiting in stream queues (with
	// the catch-up ends queued behind them, EndSyncLive).
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
		start:     time.Now(),
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

// nanotime is monotonic nanoseconds since the hub started.
func (h *Hub) nanotime() int64 { return int64(time.Since(h.start)) }

// Quiesce prepares a shutdown: from now on Publish fails with ErrDraining,
// and Quiesce returns once every message accepted before has been fanned
// out (handed to its targets' queues), or with ctx's error when ctx ends
// first. Presence events still go out. It may be called more than once.
func (h *Hub) Quiesce(ctx context.Context) error {
	h.draining.Store(true)
	t := time.NewTicker(5 * time.Millisecond)
	defer t.Stop()
	for h.st.backlog.Load() > 0 || h.st.running.Load() > 0 {
		select {
		case <-ctx.Done():
			return fmt.Errorf("cannot finish the fan-out of %d queued messages: %w", h.st.backlog.Load(), ctx.Err())
		case <-t.C:
		}
	}
	return nil
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

// Draining reports whether Quiesce was called: new publishes are refused.
func (h *Hub) Draining() bool { return h.draining.Load() }
