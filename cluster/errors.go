package cluster

import "errors"

// Sentinel errors. Compare with errors.Is.
var (
	// ErrNotConnected: the node is not connected to NATS (starting,
	// reconnecting, or the backplane is degraded). Remote publishes and
	// history requests are refused at once, never queued: the caller
	// learns it before the call returns.
	ErrNotConnected = errors.New("cluster: not connected")
	// ErrBusy: Config.MaxInflight publishes (or Config.MaxHistoryRequests
	// history requests) are already waiting for their acknowledgement.
	// The caller should back off.
	ErrBusy = errors.New("cluster: too many requests in flight")
	// ErrTimeout: no acknowledgement came within Config.RequestTimeout.
	// The message may or may not have been stored.
	ErrTimeout = errors.New("cluster: request timed out")
	// ErrClosed: the Cluster was closed.
	ErrClosed = errors.New("cluster: closed")
	// ErrBadName: a room or user name is empty, or a sender name is
	// longer than MaxFromLen bytes.
	ErrBadName = errors.New("cluster: bad room, user or sender name")
	// ErrTooLarge: the message is larger than Config.MaxMessageSize.
	ErrTooLarge = errors.New("cluster: message too large")
	// ErrNoHistory: History was called with Config.History 0.
	ErrNoHistory = errors.New("cluster: history is off")
	// ErrStream: JetStream refused or could not store the message (the
	// stream is missing, has no leader, or is over its limits); the
	// wrapping error says which.
	ErrStream = errors.New("cluster: stream unavailable")
	// ErrBadTarget: the target kind is not a room, a user or everyone.
	ErrBadTarget = errors.New("cluster: bad target")
)

// ErrInterestFull: the node already holds Config.MaxInterest
// subscriptions; Interest refused a new one.
var ErrInterestFull = errors.New("cluster: too many subscriptions")
