package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"c1m/broadcast"
	"c1m/cluster"
	"c1m/server"
)

// Config configures an App: the connection engine, the fan-out, the client
// protocol and the publish API. The zero value is usable: every zero field
// takes the default named beside it. A Config is read by New and not after.
type Config struct {
	// Engine configures the connection engine. Its Handler must be nil:
	// the App is the engine's handler.
	Engine server.Config
	// Hub configures the fan-out; its MaxFDs is set from the engine.
	Hub broadcast.Config
	// API configures the publish API; API.Addr "-" turns it off.
	API APIConfig

	RateBurst  int     // messages a client may send at once, DefaultRateBurst
	RateRefill float64 // messages per second refilled, DefaultRateRefill
	// AbuseLimit is how many refusals in a row (rate limited) close the
	// connection with 1008, DefaultAbuseLimit.
	AbuseLimit int
	// MaxData caps a message's data field in bytes, DefaultMaxData; larger
	// gets an error frame "too_large" (the frame limit, the engine's
	// MaxMessage, closes with 1009 instead).
	MaxData int
	// ConnsPerUser caps the open connections of one user id,
	// DefaultConnsPerUser; a newer connection closes the user's oldest
	// with 1008 "replaced by a newer connection of the same user" (a
	// device that moved networks reconnects before its old connection
	// times out, and must not be locked out by it).
	ConnsPerUser int
	// ExpireClose closes a connection (4001 "token expired") when its
	// token's "exp" passes.
	ExpireClose bool
	// Cluster joins the nodes' backplane (cluster.Parse builds it from
	// --cluster and its flags); the zero value (cluster.ModeOff) is a
	// single node with no broker.
	Cluster cluster.Config
}

// Defaults for Config's zero fields.
const (
	DefaultRateBurst    = 10
	DefaultRateRefill   = 1.0
	DefaultAbuseLimit   = 100
	DefaultMaxData      = 16 << 10
	DefaultConnsPerUser = 16
)

func (c Config) withDefaults() (Config, error) {
	if c.Engine.Handler != nil {
		return c, errors.New("cannot configure the app: Engine.Handler must be nil (the app is the handler)")
	}
	if c.RateBurst == 0 {
		c.RateBurst = DefaultRateBurst
	}
	if c.RateRefill == 0 {
		c.RateRefill = DefaultRateRefill
	}
	if c.AbuseLimit == 0 {
		c.AbuseLimit = DefaultAbuseLimit
	}
	if c.MaxData == 0 {
		c.MaxData = DefaultMaxData
	}
	var err error
	if c.API, err = c.API.withDefaults(); err != nil {
		return c, err
	}
	if c.ConnsPerUser == 0 {
		c.ConnsPerUser = DefaultConnsPerUser
	}
	if c.RateBurst < 1 || c.RateRefill <= 0 || c.AbuseLimit < 1 || c.MaxData < 1 || c.ConnsPerUser < 1 {
		return c, errors.New("cannot configure the client protocol: rate burst, refill, abuse limit, max data and conns per user must be positive")
	}
	if c.AbuseLimit > maxStrikes {
		return c, fmt.Errorf("cannot use abuse-limit %d: refusals in a row are counted up to %d", c.AbuseLimit, maxStrikes)
	}
	if c.Engine.Logger == nil {
		c.Engine.Logger = slog.Default()
	}
	return c, nil
}

// App is c1m's product: the connection engine running the JSON client
// protocol (docs/protocol.md), the fan-out hub, and the publish API, wired
// together by New. Start it with Start and stop it with Shutdown. Its
// methods are safe for concurrent use.
type App struct {
	cfg   Config
	log   *slog.Logger
	eng   *server.Server
	hub   *broadcast.Hub
	proto *protocol
	api   *API // nil until Start, and when the API is off
	clu   clusterState
	peers peerTable // the other nodes' figures, in a cluster
}

// New validates cfg and builds the engine, the hub and the protocol
// handler; nothing listens until Start.
func New(cfg Config) (*App, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	a := &App{cfg: cfg, log: cfg.Engine.Logger}
	a.proto = newProtocol(a)
	ecfg := cfg.Engine
	ecfg.Handler = a.proto
	// The engine calls its handler only once started, so the protocol
	// may be bound to the hub after the engine exists.
	if a.eng, err = server.New(ecfg); err != nil {
		return nil, err
	}
	hc := cfg.Hub
	hc.MaxFDs = a.eng.MaxFDs()
	if cfg.Cluster.Mode != cluster.ModeOff {
		hc.OnMembers = a.onMembers
		hc.OnPresence = a.presenceOut
		hc.RoomCount = a.roomCount
	}
	set := a.eng.Metrics()
	dur := set.NewHistogram("c1m_broadcast_duration_seconds")
	lat := set.NewPrometheusHistogramExt("c1m_broadcast_latency_seconds",
		[]float64{0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30})
	hc.OnBroadcast = func(latency, fanout time.Duration, _ int) {
		dur.Update(fanout.Seconds())
		lat.Update(latency.Seconds())
	}
	if a.hub, err = broadcast.New(hc, Sender{Engine: a.eng}); err != nil {
		return nil, fmt.Errorf("cannot create the fan-out: %w", err)
	}
	a.proto.bind(a.eng.MaxFDs())
	if cfg.ExpireClose {
		a.proto.exp = newExpiries(a.eng, 500*time.Millisecond)
	}
	registerMetrics(a.eng.Metrics(), a.hub, a.proto)
	return a, nil
}

// maxStrikes is the most refusals in a row a bucket counts (uint16).
const maxStrikes = 1<<16 - 1

// Start joins the cluster (when configured), opens the engine's listeners
// and then the publish API.
func (a *App) Start() error {
	if a.cfg.Cluster.Mode != cluster.ModeOff {
		if err := a.startCluster(); err != nil {
			a.stopBackground()
			return err
		}
	}
	if err := a.eng.Start(); err != nil {
		a.stopBackground()
		return err
	}
	if a.cfg.API.Addr == "-" {
		return nil
	}
	api, err := startAPI(a.cfg.API, a)
	if err != nil {
		_ = a.eng.Shutdown(context.Background())
		a.stopBackground()
		return err
	}
	a.api = api
	if api.cfg.Key == "" {
		a.log.Warn("the publish API has no key: anything on this host may publish", "api", api.Addr())
	}
	return nil
}

// Shutdown drains the App: the engine's drain (server.Shutdown) runs, and
// at its third step the protocol stops taking publishes (the API answers
// 503, clients get a "shutting_down" error) and lets everything accepted
// fan out; each client then gets its shutdown message and its 1001 behind
// the messages already queued for it. The publish API stops last, and the
// hub with it. ctx ending cuts the drain short.
func (a *App) Shutdown(ctx context.Context) error {
	err := a.eng.Shutdown(ctx)
	if a.api != nil {
		hctx, cancel := context.WithTimeout(context.Background(), time.Second)
		_ = a.api.Shutdown(hctx)
		cancel()
	}
	a.stopBackground()
	return err
}

// stopBackground stops the App's own goroutines: the expiry checker, the
// hub's, and the backplane (after the drain: nothing more to deliver).
func (a *App) stopBackground() {
	if a.peers.stop != nil {
		close(a.peers.stop)
		<-a.peers.done
		a.peers.stop = nil
	}
	if a.clu.cl != nil {
		a.clu.cl.Close()
		a.clu.cl = nil
	}
	if a.proto.exp != nil {
		a.proto.exp.close()
		a.proto.exp = nil
	}
	a.hub.Close()
}

// Cluster returns the backplane, or nil on a single node.
func (a *App) Cluster() *cluster.Cluster { return a.clu.cl }

// Engine returns the connection engine.
func (a *App) Engine() *server.Server { return a.eng }

// Hub returns the fan-out hub.
func (a *App) Hub() *broadcast.Hub { return a.hub }

// APIAddr returns the publish API's address, or "" when it is off or not
// started.
func (a *App) APIAddr() string {
	if a.api == nil {
		return ""
	}
	return a.api.Addr()
}
