package bench

import (
	"fmt"
	"io"
	"net/netip"
	"slices"
	"strings"
	"time"
)

// Config configures a benchmark run (`c1m bench`).
type Config struct {
	// Scenarios run in order after the ramp and the idle hold: idle,
	// broadcast, slow, rooms, churn.
	Scenarios []string
	Conns     int           // connections to open and hold
	Servers   int           // local server processes; 0: as the open-files limit requires
	Workers   int           // client worker processes; 0: as the open-files limit requires
	Hold      time.Duration // idle hold at full count
	Rate      int           // connects per second over all workers; 0: no cap
	Sources   []netip.Addr  // source addresses; nil: DefaultSources
	BasePort  int           // first local server port; metrics and API ports follow
	// Server is "c1m" (default), "baseline" (goroutine per connection) or
	// "raw" (the floor, bench/raw).
	Server string
	// Compare, when set, runs each server of the list in turn ("raw",
	// "c1m", "baseline") with the same workers and scenarios, and writes
	// one report with them side by side (RunCompare). Server is then
	// ignored.
	Compare []string
	// Handler is the c1m servers' --handler: "app" (the default, what a
	// deployment runs) or "discard" (the core server alone: no registry,
	// no broadcast, for the idle memory of the connection layer).
	Handler string
	// Agents, when set, are the load generators: `c1m bench agent`
	// addresses (host:port), and "local" for worker processes on this
	// box beside them. The connections are spread evenly over them; an
	// agent runs as many worker processes as its open-files limit needs.
	// AgentKey is the agents' key (AgentKeyEnv).
	Agents   []string
	AgentKey string
	// ServerHost is the address the local servers' WebSocket listeners
	// bind, 127.0.0.1 by default; with agents on other hosts, one they
	// reach. The publish API and metrics stay on 127.0.0.1.
	ServerHost string
	// Targets, when set, are servers already running (no local servers);
	// Publish are their publish API URLs and APIKey the bearer key.
	Targets []Target
	Publish []string
	APIKey  string

	// JWTSecret (HS256, at least 32 bytes) or JWTPrivateKey (a PEM file,
	// RS256 or ES256) makes the workers mint one token per connection
	// (user id bench-<n>) and the local c1m servers verify them
	// (--jwt-secret, or --jwt-public-key with the key's public half), so
	// that a run measures a production configuration; unset, the c1m
	// servers run --auth=none. The raw floor and the baseline ignore the
	// tokens.
	JWTSecret     string
	JWTPrivateKey string

	Broadcasts   int           // broadcast scenario: messages to everyone, 10
	Size         int           // message size in bytes, 64
	Interval     time.Duration // between broadcasts, 1 s
	SlowFraction float64       // slow scenario: fraction of clients that stop reading, 0.01
	RoomSize     int           // rooms scenario: members per room, 50
	PublishRate  int           // rooms scenario: publishes per second over all rooms, 200
	Duration     time.Duration // rooms and churn scenarios: how long, 10 s
	ChurnRate    int           // churn scenario: reconnects per second over all workers, 500
	Probes       int           // probe connections per worker, 4
	// PingInterval is the c1m servers' --ping-interval. Both ends run on
	// this box, so a million connections pinged every 30 s are 33,000
	// pings and pongs a second on its cores; 0 keeps the server default.
	PingInterval time.Duration
	// ServeArgs are extra flags for every local `c1m serve`, e.g.
	// "--loops 1 --workers 1" when many server processes share few cores.
	ServeArgs []string

	// Cluster, when set, makes the local c1m servers nodes of one
	// cluster: "embedded" (each runs NATS inside, routes on ports of the
	// base-port range) or nats://host:port[,...] (all join that NATS).
	// Every message is then published once, through one node's API (or
	// one client's connection), instead of once per server. Empty: each
	// server stands alone and gets every publish (the default).
	Cluster string
	// PublishVia is how the rooms scenario publishes: "api" (the
	// default: HTTP requests to the publish API) or "ws" (the clients
	// send room_message frames on their own connections; cluster mode
	// only, see ClusterConfig).
	PublishVia string
	// Publishers is how many API requests the rooms scenario keeps in
	// flight in cluster mode (several HTTP connections); 0: 32.
	Publishers int

	Out     string // report directory
	Exe     string // the c1m binary to run servers and workers with
	Command string // the command line, for the report
	// RampTimeout bounds the ramp; connections not open by then count as
	// failed.
	RampTimeout time.Duration
	Progress    io.Writer // live progress; nil: none
	Terminal    bool      // Progress is a terminal: redraw one line
}

// defaultBasePort is the first local server port when none is given.
const defaultBasePort = 18080

// Scenario names.
const (
	ScenarioIdle      = "idle"
	ScenarioBroadcast = "broadcast"
	ScenarioSlow      = "slow"
	ScenarioRooms     = "rooms"
	ScenarioChurn     = "churn"
)

// How the rooms scenario publishes (Config.PublishVia).
const (
	PublishViaAPI = "api"
	PublishViaWS  = "ws"
)

// ParseServers parses a --compare list: known servers, no repeats.
func ParseServers(s string) ([]string, error) {
	var out []string
	for _, x := range strings.Split(s, ",") {
		x = strings.TrimSpace(x)
		switch {
		case x == "":
		case !validServer(x):
			return nil, fmt.Errorf("cannot compare server %q: want raw, c1m or baseline", x)
		case slices.Contains(out, x):
			return nil, fmt.Errorf("cannot compare server %q twice", x)
		default:
			out = append(out, x)
		}
	}
	if len(out) < 2 {
		return nil, fmt.Errorf("cannot compare %q: name at least two servers (raw, c1m, baseline)", s)
	}
	return out, nil
}

// ParseScenarios parses a comma-separated scenario list.
func ParseScenarios(s string) ([]string, error) {
	var out []string
	for _, x := range strings.Split(s, ",") {
		x = strings.TrimSpace(x)
		switch x {
		case ScenarioIdle, ScenarioBroadcast, ScenarioSlow, ScenarioRooms, ScenarioChurn:
			out = append(out, x)
		case "":
		default:
			return nil, fmt.Errorf("cannot run scenario %q: want idle, broadcast, slow, rooms or churn", x)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("cannot run: no scenario given")
	}
	return out, nil
}

func (c *Config) defaults() error {
	if c.Sources == nil {
		c.Sources = DefaultSources()
	}
	if c.BasePort == 0 {
		c.BasePort = defaultBasePort
	}
	if c.ServerHost == "" {
		c.ServerHost = "127.0.0.1"
	}
	if c.RampTimeout == 0 {
		c.RampTimeout = 10 * time.Minute
	}
	if c.Server == "" {
		c.Server = "c1m"
	}
	if c.Handler == "" {
		c.Handler = "app"
	}
	if c.Broadcasts == 0 {
		c.Broadcasts = 10
	}
	if c.Size == 0 {
		c.Size = 64
	}
	if c.Interval == 0 {
		c.Interval = time.Second
	}
	if c.SlowFraction == 0 {
		c.SlowFraction = 0.01
	}
	if c.RoomSize == 0 {
		c.RoomSize = 50
	}
	if c.PublishRate == 0 {
		c.PublishRate = 200
	}
	if c.Duration == 0 {
		c.Duration = 10 * time.Second
	}
	if c.ChurnRate == 0 {
		c.ChurnRate = 500
	}
	if c.PublishVia == "" {
		c.PublishVia = PublishViaAPI
	}
	if c.Publishers == 0 {
		c.Publishers = defaultPublishers
	}
	if err := c.checkCluster(); err != nil {
		return err
	}
	switch {
	case c.Conns < 1:
		return fmt.Errorf("cannot run: --conns must be at least 1, got %d", c.Conns)
	case !validServer(c.Server):
		return fmt.Errorf("cannot run server %q: want c1m, raw or baseline", c.Server)
	case c.Size < 32 || c.Size > 1<<20:
		return fmt.Errorf("cannot use --size %d: want 32 bytes to 1 MiB", c.Size)
	case c.SlowFraction < 0 || c.SlowFraction >= 1:
		return fmt.Errorf("cannot use --slow-fraction %g: want 0 to 1", c.SlowFraction)
	case len(c.Targets) > 0 && len(c.Publish) == 0 && c.needsPublish():
		return fmt.Errorf("cannot run broadcast scenarios against --target servers without --publish URLs")
	case c.JWTSecret != "" && c.JWTPrivateKey != "":
		return fmt.Errorf("cannot use both --jwt-secret and --jwt-private-key: give one")
	case c.Handler != "app" && c.Handler != "discard":
		return fmt.Errorf("cannot run handler %q: want app or discard", c.Handler)
	case c.Handler == "discard" && c.needsPublish():
		return fmt.Errorf("cannot run message scenarios with --handler discard: it has no publish API")
	case c.Server != ServerC1M && c.has(ScenarioRooms):
		return fmt.Errorf("cannot run the rooms scenario on the %s server: it has no rooms", c.Server)
	}
	return c.checkAgents()
}

// Servers the orchestrator can run.
const (
	ServerC1M      = "c1m"
	ServerRaw      = "raw"
	ServerBaseline = "baseline"
)

func validServer(s string) bool {
	return s == ServerC1M || s == ServerRaw || s == ServerBaseline
}

func (c *Config) has(s string) bool {
	for _, x := range c.Scenarios {
		if x == s {
			return true
		}
	}
	return false
}

func (c *Config) needsPublish() bool {
	return c.has(ScenarioBroadcast) || c.has(ScenarioSlow) || c.has(ScenarioRooms) || c.has(ScenarioChurn)
}

// minter returns the run's token Minter, nil without JWT settings.
func (c *Config) minter() (*Minter, error) {
	switch {
	case c.JWTSecret != "":
		return NewHS256Minter([]byte(c.JWTSecret))
	case c.JWTPrivateKey != "":
		return NewKeyMinter(c.JWTPrivateKey)
	}
	return nil, nil
}

// processFDReserve is the descriptors a server or worker process keeps
// for itself (listeners, epoll, the HTTP side, logs) beyond its
// connections.
const processFDReserve = 256

// perProcessConns is how many connections one process may hold under the
// open-files limit, keeping FD room for the process itself.
func perProcessConns(limit uint64) int {
	return int(limit) - processFDReserve
}

// plan fills in Servers and (local) Workers from the open-files limit.
func (c *Config) plan(limit uint64) error {
	per := perProcessConns(limit)
	if per < 1 {
		return fmt.Errorf("cannot plan the run: the open-files limit %d leaves no room for connections", limit)
	}
	need := (c.Conns + per - 1) / per
	if c.Servers == 0 && len(c.Targets) == 0 {
		c.Servers = need
	}
	local := c.localShare()
	needLocal := (local + per - 1) / per
	if c.Workers == 0 {
		c.Workers = needLocal
	}
	if len(c.Targets) == 0 && (c.Conns+c.Servers-1)/c.Servers > per {
		return fmt.Errorf("cannot hold %d connections on %d servers: each may hold %d under the open-files limit %d; use --servers %d or more", c.Conns, c.Servers, per, limit, need)
	}
	if local > 0 && (local+c.Workers-1)/c.Workers > per {
		return fmt.Errorf("cannot open %d connections from %d workers: each may hold %d under the open-files limit %d; use --workers %d or more", local, c.Workers, per, limit, needLocal)
	}
	return nil
}
