package cluster

import (
	"context"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// streamConfig is the one stream of a deployment: every room's, user's
// and "everyone"'s messages, stored under <prefix>.s.> and republished
// under <prefix>.l.> with their sequence and the previous sequence of
// the same subject.
func (c *Cluster) streamConfig() jetstream.StreamConfig {
	cfg := c.cfg
	storage := jetstream.MemoryStorage
	if cfg.Storage == StorageFile {
		storage = jetstream.FileStorage
	}
	return jetstream.StreamConfig{
		Name:        cfg.Stream,
		Description: "c1m rooms, direct messages and broadcasts: one order, and their history",
		Subjects:    []string{c.subj.storedAll()},
		Retention:   jetstream.LimitsPolicy,
		// At least one message per subject: JetStream reads the
		// previous sequence of a subject (Nats-Last-Sequence) from the
		// last message it still holds.
		MaxMsgsPerSubject: int64(max(cfg.History, 1)),
		MaxAge:            cfg.HistoryTTL,
		MaxBytes:          cfg.MaxStreamBytes,
		MaxMsgs:           -1,
		MaxMsgSize:        int32(cfg.MaxMessageSize + MaxFromLen + 16),
		Discard:           jetstream.DiscardOld,
		Storage:           storage,
		Replicas:          cfg.Replicas,
		// No message IDs are sent, so deduplication keeps nothing; the
		// window must not exceed MaxAge.
		Duplicates:  min(cfg.HistoryTTL, 2*time.Minute),
		AllowDirect: true,
		RePublish: &jetstream.RePublish{
			Source:      c.subj.storedAll(),
			Destination: c.subj.liveAll(),
		},
	}
}

const ensureTimeout = 2 * time.Second

// ensureStream creates the stream, or updates it to this node's
// configuration. Every node does it on every (re)connection; nodes of
// one deployment must agree on the history settings, or the last one
// to connect wins.
func (c *Cluster) ensureStream() error {
	js, err := jetstream.New(c.nc)
	if err != nil {
		return fmt.Errorf("cannot use JetStream: %w", err)
	}
	// A short attempt: before a clustered JetStream has its meta leader
	// the request goes unanswered, and the manager retries with backoff
	// (the stream's creation goes on on the servers meanwhile).
	ctx, cancel := context.WithTimeout(context.Background(), min(c.cfg.RequestTimeout, ensureTimeout))
	defer cancel()
	if _, err := js.CreateOrUpdateStream(ctx, c.streamConfig()); err != nil {
		if c.srv != nil && len(c.cfg.Routes) > 0 && c.srv.NumRoutes() == 0 {
			return fmt.Errorf("cannot create the stream %s: no peer answers on the routes (a clustered JetStream needs a majority of its nodes): %w", c.cfg.Stream, err)
		}
		return fmt.Errorf("cannot create the stream %s: %w", c.cfg.Stream, err)
	}
	return nil
}
