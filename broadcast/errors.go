package broadcast

import "errors"

// Sentinel errors. Compare with errors.Is.
var (
	// ErrSlow is returned by a Sender when the target's pending bytes
	// are over its cap; nothing was queued.
	ErrSlow = errors.New("broadcast: slow consumer")
	// ErrGone is returned by a Sender when the target no longer exists.
	ErrGone = errors.New("broadcast: connection gone")
	// ErrTooManyRooms: the connection is in Config.MaxRoomsPerConn rooms.
	ErrTooManyRooms = errors.New("broadcast: too many rooms for this connection")
	// ErrRoomFull: the room has Config.MaxRoomMembers members.
	ErrRoomFull = errors.New("broadcast: room is full")
	// ErrNotRegistered: the connection is not registered (or was
	// replaced by a newer one on the same fd).
	ErrNotRegistered = errors.New("broadcast: connection not registered")
	// ErrNotMember: leave for a room the connection is not in.
	ErrNotMember = errors.New("broadcast: not a member of the room")
	// ErrClosed: the Hub was closed.
	ErrClosed = errors.New("broadcast: hub closed")
	// ErrBadName: a room or user name is empty or too long.
	ErrBadName = errors.New("broadcast: bad room or user name")
)

// ErrBacklog: the stream already holds Config.MaxStreamBacklog messages
// waiting for fan-out; the publisher should back off.
var ErrBacklog = errors.New("broadcast: stream backlog full")

// ErrDraining: the Hub is quiescing for a shutdown (Quiesce) and takes no
// new messages; the publisher should go to another node.
var ErrDraining = errors.New("broadcast: draining")

// ErrBadData: the message data is not valid JSON.
var ErrBadData = errors.New("broadcast: data is not valid JSON")
