package broadcast

import (
	"fmt"
	"runtime"
	"time"
)

// Policy is what happens to a target whose pending bytes pass its cap.
type Policy uint8

const (
	// PolicyClose closes the slow connection with 1013 "slow consumer"
	// (the default): it reconnects and catches up from the application.
	PolicyClose Policy = iota
	// PolicyDrop skips the message for that connection only; before its
	// next delivery on the same stream it gets a gap notice naming the
	// sequence numbers it missed.
	PolicyDrop
)

// ParsePolicy parses "close" or "drop".
func ParsePolicy(s string) (Policy, error) {
	switch s {
	case "close":
		return PolicyClose, nil
	case "drop":
		return PolicyDrop, nil
	}
	return 0, fmt.Errorf("cannot use slow-consumer policy %q: want close or drop", s)
}

func (p Policy) String() string {
	if p == PolicyDrop {
		return "drop"
	}
	return "close"
}

// Config configures a Hub. Zero fields take the defaults named.
type Config struct {
	// MaxFDs is the size of the fd-indexed registry: one more than the
	// largest fd a connection can have (the open-files limit). Required.
	MaxFDs int
	// ChunkSize is how many targets one fan-out task writes, 1,024.
	ChunkSize int
	// Workers is the ants pool size, 2 × GOMAXPROCS: fan-out is write(2)
	// bound, and more workers than cores only add contention.
	Workers int
	// Policy is the slow-consumer policy, PolicyClose.
	Policy Policy
	// MaxRoomsPerConn caps the rooms one connection may join, 64.
	MaxRoomsPerConn int
	// MaxRoomMembers caps a room's members; 0 means no cap.
	MaxRoomMembers int
	// MaxNameLen caps room and user names in bytes, 128.
	MaxNameLen int
	// MaxStreamBacklog caps the messages waiting in one stream's queue,
	// 4,096; past it Publish fails with ErrBacklog.
	MaxStreamBacklog int
	// PresenceWindow is how long join/leave events are gathered before
	// one presence event per room goes out, 1 s.
	PresenceWindow time.Duration
	// OnBroadcast, if set, is called after the fan-out of every message
	// (not presence events) with its latency (from Publish to the last
	// target handed the frame, queueing behind earlier messages
	// included), the fan-out's own duration, and the target count. It
	// runs on the fan-out goroutine: it must be quick.
	OnBroadcast func(latency, fanout time.Duration, targets int)
	// OnMembers, if set, is called when a room's or a user's local
	// membership changes, with the counts before and after (after 0: the
	// target has no member on this node any more), under the Hub's lock
	// of that target, so that calls for one target come in order. It must
	// be quick and must not call the Hub. (The cluster subscribes to a
	// target while it has local members and shares the counts.)
	OnMembers func(t Target, before, after int)
	// OnPresence, if set, receives every room's local presence changes
	// once per PresenceWindow (users who joined and who left on this
	// node, net of flapping), whether or not a local member asked for
	// presence events: the cluster passes them to the other nodes. It
	// runs on the presence goroutine.
	OnPresence func(room string, joined, left []string)
	// RoomCount, if set, gives the member count a presence event carries
	// (the cluster's count over every node); nil counts this node's.
	RoomCount func(room string) int
	// MaxSyncFrames caps the live messages a joining connection's
	// catch-up (JoinFrom … EndSync) holds back while its history is
	// fetched, 1,024; past it the rest is announced by a gap notice.
	MaxSyncFrames int
}

// Defaults.
const (
	DefaultChunkSize        = 1024
	DefaultMaxRoomsPerConn  = 64
	DefaultMaxNameLen       = 128
	DefaultMaxStreamBacklog = 4096
	DefaultPresenceWindow   = time.Second
	DefaultMaxSyncFrames    = 1024
)

func (c Config) withDefaults() (Config, error) {
	if c.MaxFDs <= 0 {
		return c, fmt.Errorf("cannot create hub: MaxFDs must be positive, got %d", c.MaxFDs)
	}
	if c.ChunkSize == 0 {
		c.ChunkSize = DefaultChunkSize
	}
	if c.Workers == 0 {
		c.Workers = 2 * runtime.GOMAXPROCS(0)
	}
	if c.MaxRoomsPerConn == 0 {
		c.MaxRoomsPerConn = DefaultMaxRoomsPerConn
	}
	if c.MaxNameLen == 0 {
		c.MaxNameLen = DefaultMaxNameLen
	}
	if c.MaxStreamBacklog == 0 {
		c.MaxStreamBacklog = DefaultMaxStreamBacklog
	}
	if c.PresenceWindow == 0 {
		c.PresenceWindow = DefaultPresenceWindow
	}
	if c.MaxSyncFrames == 0 {
		c.MaxSyncFrames = DefaultMaxSyncFrames
	}
	switch {
	case c.ChunkSize < 1:
		return c, fmt.Errorf("cannot create hub: chunk size must be positive, got %d", c.ChunkSize)
	case c.Workers < 1:
		return c, fmt.Errorf("cannot create hub: workers must be positive, got %d", c.Workers)
	case c.MaxRoomsPerConn < 1:
		return c, fmt.Errorf("cannot create hub: rooms per connection must be positive, got %d", c.MaxRoomsPerConn)
	case c.MaxRoomMembers < 0:
		return c, fmt.Errorf("cannot create hub: room member cap must not be negative, got %d", c.MaxRoomMembers)
	case c.PresenceWindow < time.Millisecond:
		return c, fmt.Errorf("cannot create hub: presence window must be at least 1ms, got %v", c.PresenceWindow)
	}
	return c, nil
}
