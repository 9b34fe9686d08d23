package cluster

import (
	"fmt"
	"math/rand/v2"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
)

// DeliverFunc receives every message of the targets the node has
// interest in (and of "everyone"), one at a time, in the deployment's
// order, on one goroutine of the Cluster. It must not block: hand the
// message to the fan-out (broadcast.Hub) and return. While it runs,
// further messages wait in Config.DeliveryQueue; past that NATS drops
// them, and the readers see a hole (Message.Prev).
type DeliverFunc func(Message)

// Cluster is one node's backplane: its NATS connection (and embedded
// server), its subscriptions, its publishes in flight and its view of
// presence on the other nodes. All methods are safe for concurrent use
// and none blocks on the network: publishes and history requests
// complete through callbacks.
//
// A Cluster keeps nothing per WebSocket connection: its memory grows
// with the rooms and users that have local members (Config.MaxInterest),
// the requests in flight (Config.MaxInflight, MaxHistoryRequests) and
// the other nodes' presence (MaxNodes × MaxPresenceEntries).
type Cluster struct {
	cfg     Config
	subj    subjects
	deliver DeliverFunc
	srv     *server.Server // the embedded server, or nil
	tmpDir  string         // removed by Close
	nc      *nats.Conn
	inbox   string // reply subjects: inbox.a.<token>, inbox.h.<token>
	node    nodeID

	// closeMu orders Publish/History against Close: requests enter the
	// queue under RLock, Close sets closed under Lock and then fails
	// whatever is queued.
	closeMu sync.RWMutex
	closed  bool

	reqs    chan *request // to the writer; capacity MaxInflight+MaxHistoryRequests
	pendMu  sync.Mutex
	pending map[uint64]*request // token → request awaiting its answer
	pubN    atomic.Int64        // publishes queued or awaiting their ack
	histN   atomic.Int64        // history requests queued or in flight

	interests
	presence     *presence
	onPresEvent  atomic.Pointer[PresenceEventFunc]
	onNodeStatus atomic.Pointer[NodeStatusFunc]

	connected  atomic.Bool
	streamOK   atomic.Bool
	ensureKick chan struct{}
	health
	stop        chan struct{}
	wg          sync.WaitGroup
	st          counters
	streamCheck func() error // ensureStream, replaced in tests
}

type counters struct {
	published, failed, refused, delivered, holes, reordered, late, slow, reconnects, foreign atomic.Int64
}

// New starts a node's backplane: the embedded server when
// Config.Mode is ModeEmbedded, the NATS connection (retried in the
// background with backoff: New does not wait for NATS), the stream, and
// the "everyone" subscription. deliver receives the messages (see
// DeliverFunc). Close releases everything.
func New(cfg Config, deliver DeliverFunc) (*Cluster, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	if deliver == nil {
		return nil, fmt.Errorf("cannot start the backplane: no delivery callback")
	}
	c := &Cluster{
		cfg:        cfg,
		subj:       subjects{prefix: cfg.Prefix},
		deliver:    deliver,
		node:       newNodeID(cfg.NodeName),
		reqs:       make(chan *request, cfg.MaxInflight+cfg.MaxHistoryRequests),
		pending:    map[uint64]*request{},
		ensureKick: make(chan struct{}, 1),
		stop:       make(chan struct{}),
	}
	c.streamCheck = c.ensureStream
	c.health.init()
	c.interests.init(cfg)
	if cfg.Mode == ModeEmbedded {
		if c.srv, c.tmpDir, err = startEmbedded(cfg); err != nil {
			return nil, err
		}
	}
	// The connection's handlers may run as soon as it exists.
	c.presence = newPresence(c)
	if err := c.connect(); err != nil {
		c.presence.close()
		c.shutdownServer()
		return nil, err
	}
	if err := c.startSubscriptions(); err != nil {
		c.presence.close()
		c.nc.Close()
		c.shutdownServer()
		return nil, err
	}
	c.wg.Add(3)
	go c.writer()
	go c.dispatcher()
	go c.manager()
	return c, nil
}

// connect dials NATS (or the embedded server in process). With
// RetryOnFailedConnect it returns at once even when NATS is down; the
// handlers below track the state.
func (c *Cluster) connect() error {
	cfg := c.cfg
	opts := []nats.Option{
		nats.Name("c1m " + cfg.NodeName),
		nats.MaxReconnects(-1),
		nats.RetryOnFailedConnect(true),
		nats.CustomReconnectDelay(c.backoff),
		// Refuse rather than buffer while disconnected: a publish either
		// reaches NATS now or fails at once with ErrNotConnected.
		nats.ReconnectBufSize(-1),
		nats.PingInterval(5 * time.Second),
		nats.MaxPingsOutstanding(3),
		nats.FlusherTimeout(5 * time.Second),
		// Presence and acknowledgements are addressed to others or come
		// from the server: this node's own publishes never need echoing.
		nats.NoEcho(),
		nats.ConnectHandler(c.onConnect),
		nats.ReconnectHandler(func(nc *nats.Conn) { c.st.reconnects.Add(1); c.onConnect(nc) }),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) { c.onDisconnect(err) }),
		nats.ReconnectErrHandler(func(_ *nats.Conn, err error) { c.onReconnectFailed(err) }),
		nats.ClosedHandler(func(*nats.Conn) { c.onDisconnect(nats.ErrConnectionClosed) }),
		nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) {
			if err == nats.ErrSlowConsumer {
				c.st.slow.Add(1)
			}
			c.logf("cluster: NATS error: %v", err)
		}),
	}
	url := strings.Join(cfg.URLs, ",")
	if c.srv != nil {
		opts = append(opts, nats.InProcessServer(c.srv))
		url = c.srv.ClientURL()
	}
	switch {
	case cfg.CredsFile != "":
		opts = append(opts, nats.UserCredentials(cfg.CredsFile))
	case cfg.Token != "":
		opts = append(opts, nats.Token(cfg.Token))
	case cfg.User != "":
		opts = append(opts, nats.UserInfo(cfg.User, cfg.Password))
	}
	if cfg.CAFile != "" {
		opts = append(opts, nats.RootCAs(cfg.CAFile))
	}
	if cfg.CertFile != "" {
		opts = append(opts, nats.ClientCert(cfg.CertFile, cfg.KeyFile))
	}
	nc, err := nats.Connect(url, opts...)
	if err != nil {
		return fmt.Errorf("cannot connect to NATS at %s: %w", url, err)
	}
	c.nc = nc
	c.inbox = nc.NewInbox()
	return nil
}

// backoff is the reconnect delay: ReconnectMin doubling per attempt up
// to ReconnectMax, ±25% jitter so that a cluster's nodes do not
// reconnect in step.
func (c *Cluster) backoff(attempts int) time.Duration {
	d := c.cfg.ReconnectMin
	for i := 1; i < attempts && d < c.cfg.ReconnectMax; i++ {
		d *= 2
	}
	d = min(d, c.cfg.ReconnectMax)
	return d - d/4 + time.Duration(rand.Int64N(int64(d/2)+1))
}

// startSubscriptions subscribes the reply inbox, presence, and
// "everyone" (always held).
func (c *Cluster) startSubscriptions() error {
	if _, err := c.nc.Subscribe(c.inbox+".>", c.onReply); err != nil {
		return fmt.Errorf("cannot subscribe to the reply inbox: %w", err)
	}
	if err := c.presence.subscribe(); err != nil {
		return err
	}
	if err := c.subscribePresenceEvents(); err != nil {
		return err
	}
	if err := c.subscribeNodeStatus(); err != nil {
		return err
	}
	all, err := c.subj.live(allTarget)
	if err != nil {
		return err
	}
	c.interests.hold(all, allTarget)
	c.reconcile()
	return nil
}

// onConnect runs on every (re)connection: the stream is checked again
// (it may have been created elsewhere, or lost with a memory-only NATS).
// It gets the connection from nats.go: c.nc may not be set yet.
func (c *Cluster) onConnect(nc *nats.Conn) {
	c.connected.Store(true)
	c.logf("cluster: connected to NATS at %s", nc.ConnectedUrlRedacted())
	select {
	case c.ensureKick <- struct{}{}:
	default:
	}
	c.presence.kick()
	c.setConnected(true, "")
}

func (c *Cluster) onDisconnect(err error) {
	c.connected.Store(false)
	c.closeMu.RLock()
	closing := c.closed
	c.closeMu.RUnlock()
	if closing {
		return
	}
	reason := "disconnected from NATS"
	if err != nil {
		reason = fmt.Sprintf("disconnected from NATS: %v", err)
	}
	c.setConnected(false, reason)
	// Answers to requests sent on the lost connection will not come.
	c.failPending(func(*request) bool { return true }, ErrNotConnected)
}

// onReconnectFailed keeps the reason of the latest failed attempt (the
// first connection's too, with RetryOnFailedConnect).
func (c *Cluster) onReconnectFailed(err error) {
	if err == nil || c.connected.Load() {
		return
	}
	c.setConnected(false, fmt.Sprintf("cannot reach NATS: %v", err))
}

// Close leaves the cluster: it tells the other nodes this node's
// presence is gone, fails every request still in flight with ErrClosed
// (their callbacks run before Close returns), closes the connection and
// stops the embedded server. Deliveries stop. Safe to call twice.
func (c *Cluster) Close() {
	c.closeMu.Lock()
	if c.closed {
		c.closeMu.Unlock()
		return
	}
	c.closed = true
	c.closeMu.Unlock()
	close(c.stop)
	c.wg.Wait()
	// After the manager stopped: the leave message is this node's last.
	c.presence.leave()
	c.presence.close()
	c.failQueued(ErrClosed)
	c.failPending(func(*request) bool { return true }, ErrClosed)
	c.nc.Close()
	c.shutdownServer()
	c.setClosed()
}

func (c *Cluster) shutdownServer() {
	if c.srv != nil {
		c.srv.Shutdown()
		c.srv.WaitForShutdown()
	}
	if c.tmpDir != "" {
		_ = os.RemoveAll(c.tmpDir)
	}
}

// Server returns the embedded nats-server, or nil in ModeExternal. For
// tests and monitoring (Varz, Subsz, Routez); the Cluster owns it.
func (c *Cluster) Server() *server.Server { return c.srv }

// Conn returns the node's NATS connection. For tests and monitoring;
// the Cluster owns it.
func (c *Cluster) Conn() *nats.Conn { return c.nc }

// NodeName returns the node's name (Config.NodeName).
func (c *Cluster) NodeName() string { return c.cfg.NodeName }

func (c *Cluster) logf(format string, args ...any) {
	if c.cfg.Logf != nil {
		c.cfg.Logf(format, args...)
	}
}

// manager keeps the stream ensured while connected (retrying with
// backoff), sweeps timed-out requests and runs presence's timers.
func (c *Cluster) manager() {
	defer c.wg.Done()
	sweep := time.NewTicker(max(c.cfg.RequestTimeout/8, 10*time.Millisecond))
	defer sweep.Stop()
	retry := time.NewTimer(time.Hour)
	retry.Stop()
	wait := c.cfg.ReconnectMin
	for {
		select {
		case <-c.stop:
			return
		case <-c.ensureKick:
			wait = c.cfg.ReconnectMin
			c.tryEnsure(retry, &wait)
		case <-retry.C:
			c.tryEnsure(retry, &wait)
		case now := <-sweep.C:
			c.failPending(func(r *request) bool { return now.After(r.deadline) }, ErrTimeout)
		case <-c.presence.timer():
			c.presence.tick()
		}
	}
}

// tryEnsure checks the stream once; on failure it arms retry with the
// next backoff.
func (c *Cluster) tryEnsure(retry *time.Timer, wait *time.Duration) {
	if !c.connected.Load() {
		return
	}
	if err := c.streamCheck(); err != nil {
		c.setStream(false, err.Error())
		retry.Reset(*wait)
		*wait = min(*wait*2, c.cfg.ReconnectMax)
		return
	}
	c.setStream(true, "")
}
