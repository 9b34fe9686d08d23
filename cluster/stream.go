package cluster

import (
	"context"
	"errors"
	"fmt"
	"slices"
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
// configuration when it differs. Every node does it on every
// (re)connection; nodes of one deployment must agree on the history
// settings, or the last one to connect wins. A stream that already has
// this configuration is left alone: nats-server 2.9 can crash when an
// update reaches a stream another node is creating, and an update of
// an unchanged stream is a needless write to the servers' meta layer.
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
	if err := c.createOrUpdate(ctx, js); err != nil {
		if c.srv != nil && len(c.cfg.Routes) > 0 && c.srv.NumRoutes() == 0 {
			return fmt.Errorf("cannot create the stream %s: no peer answers on the routes (a clustered JetStream needs a majority of its nodes): %w", c.cfg.Stream, err)
		}
		return fmt.Errorf("cannot create the stream %s: %w", c.cfg.Stream, err)
	}
	return nil
}

// createOrUpdate makes the stream have this node's configuration with as
// few writes as it can: a look, then a create or an update only when
// needed.
func (c *Cluster) createOrUpdate(ctx context.Context, js jetstream.JetStream) error {
	want := c.streamConfig()
	s, err := js.Stream(ctx, want.Name)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		_, err = js.CreateStream(ctx, want)
		if !errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) {
			return err
		}
		// Another node created it meanwhile, with other settings.
		s, err = js.Stream(ctx, want.Name)
	}
	if err != nil {
		return err
	}
	if sameStream(s.CachedInfo().Config, want) {
		return nil
	}
	if _, err := js.UpdateStream(ctx, want); err != nil {
		return err
	}
	c.logf("cluster: updated the stream %s to this node's settings (history %d per target, %s)", want.Name, want.MaxMsgsPerSubject, want.MaxAge)
	return nil
}

// sameStream reports whether the stream as stored has every setting
// streamConfig gives (the server fills in the ones it leaves out).
func sameStream(have, want jetstream.StreamConfig) bool {
	return slices.Equal(have.Subjects, want.Subjects) &&
		have.Description == want.Description &&
		have.Retention == want.Retention &&
		have.MaxMsgsPerSubject == want.MaxMsgsPerSubject &&
		have.MaxAge == want.MaxAge &&
		have.MaxBytes == want.MaxBytes &&
		have.MaxMsgs == want.MaxMsgs &&
		have.MaxMsgSize == want.MaxMsgSize &&
		have.Discard == want.Discard &&
		have.Storage == want.Storage &&
		have.Replicas == want.Replicas &&
		have.Duplicates == want.Duplicates &&
		have.AllowDirect == want.AllowDirect &&
		have.RePublish != nil && want.RePublish != nil &&
		*have.RePublish == *want.RePublish
}
