package cluster

import (
	"fmt"
	"net"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"
)

// Mode is how a node reaches NATS.
type Mode uint8

const (
	// ModeOff: a single node, no broker. New refuses this mode: the
	// application simply creates no Cluster, which costs nothing.
	ModeOff Mode = iota
	// ModeExternal joins an existing NATS deployment (Config.URLs).
	ModeExternal
	// ModeEmbedded runs nats-server inside the process, JetStream on,
	// with routes to the peer nodes (Config.Routes).
	ModeEmbedded
)

func (m Mode) String() string {
	switch m {
	case ModeExternal:
		return "external"
	case ModeEmbedded:
		return "embedded"
	}
	return "off"
}

// Storage is where the stream keeps its messages.
type Storage uint8

const (
	// StorageMemory keeps the stream in memory: lost when every replica
	// restarts, and the fastest.
	StorageMemory Storage = iota
	// StorageFile keeps it on disk (under Config.DataDir when embedded).
	StorageFile
)

func (s Storage) String() string {
	if s == StorageFile {
		return "file"
	}
	return "memory"
}

// Defaults of Config's zero fields.
const (
	DefaultPrefix             = "c1m"
	DefaultStream             = "C1M"
	DefaultClusterName        = "c1m"
	DefaultRoutePort          = 6222
	DefaultHistoryTTL         = 24 * time.Hour
	DefaultMaxStreamBytes     = 256 << 20
	DefaultMaxMessageSize     = 64 << 10
	DefaultMaxInflight        = 8192
	DefaultMaxHistoryBatch    = 1000
	DefaultMaxHistoryRequests = 64
	DefaultRequestTimeout     = 5 * time.Second
	DefaultDeliveryQueue      = 65536
	DefaultMaxInterest        = 1 << 20
	DefaultReorderWait        = 100 * time.Millisecond
	DefaultMaxReorder         = 1024
	DefaultPresenceInterval   = 3 * time.Second
	DefaultPresenceTTL        = 10 * time.Second
	DefaultPresenceDebounce   = 200 * time.Millisecond
	DefaultMaxPresenceEntries = 1 << 20
	DefaultMaxNodes           = 256
	DefaultReconnectMin       = 100 * time.Millisecond
	DefaultReconnectMax       = 5 * time.Second
)

// MaxFromLen bounds the sender name carried with each message.
const MaxFromLen = 1024

// Config configures a Cluster. Zero fields take the Default* values; Mode
// must be ModeExternal or ModeEmbedded. Parse builds one from the
// command line.
type Config struct {
	Mode Mode

	// URLs are the NATS servers to join (ModeExternal): nats://, tls://
	// (TLS to NATS), or ws(s)://, user info allowed.
	URLs []string
	// CredsFile is a NATS credentials file (JWT and nkey seed);
	// User/Password or Token authenticate otherwise.
	CredsFile, User, Password, Token string
	// CAFile verifies the NATS servers' certificates (system roots
	// otherwise); CertFile/KeyFile are a client certificate. TLS is used
	// when a URL says tls:// or the server requires it.
	CAFile, CertFile, KeyFile string

	// RouteHost and RoutePort are where the embedded server accepts
	// routes from peer nodes. RoutePort 0 means no route listener: a
	// single embedded node, which needs no Routes either. With
	// RoutePort, Routes must list the peers (this node's own address
	// may be in the list: every node can be given the same list).
	RouteHost string
	RoutePort int
	// Routes are the peer nodes' route URLs, nats-route://host:port.
	Routes []string
	// RouteUser and RoutePassword, when set, are required from peers and
	// sent to them.
	RouteUser, RoutePassword string
	// ClusterName names the embedded NATS cluster, DefaultClusterName.
	ClusterName string
	// ClientPort, when non-zero, opens a NATS client port on 127.0.0.1
	// for tools (-1: a free port). A clustered node always has one (a
	// free port unless set): nats-server starts routing only after its
	// client listener. The node itself connects in process.
	ClientPort int
	// DataDir is the embedded server's JetStream directory; empty means
	// a temporary directory removed by Close (memory storage then).
	DataDir string
	// NodeName identifies the node: its embedded server's name (unique in
	// the NATS cluster, stable across restarts for file storage) and its
	// presence entries. Default: the host name.
	NodeName string

	// Prefix starts every subject, DefaultPrefix; Stream is the
	// JetStream stream's name, DefaultStream. Nodes that share them
	// form one c1m deployment.
	Prefix, Stream string
	// History is how many messages of each room, user and "everyone"
	// the stream keeps for History; 0 keeps only the last one (which
	// JetStream needs to give each message the previous one's sequence)
	// and History returns ErrNoHistory.
	History int
	// HistoryTTL is how long messages are kept, DefaultHistoryTTL.
	HistoryTTL time.Duration
	// Storage of the stream. Replicas is its replica count: default 1
	// for ModeExternal, and 3 for ModeEmbedded with three nodes or more
	// (this one and the distinct peers in Routes), 1 otherwise.
	Storage  Storage
	Replicas int
	// MaxStreamBytes caps the stream; the oldest messages go first.
	MaxStreamBytes int64
	// MaxMessageSize caps a message's data, DefaultMaxMessageSize.
	MaxMessageSize int

	// MaxInflight caps the publishes waiting for their acknowledgement.
	MaxInflight int
	// MaxHistoryBatch caps the messages one History call returns;
	// MaxHistoryRequests the History calls in flight.
	MaxHistoryBatch, MaxHistoryRequests int
	// RequestTimeout bounds the wait for a publish acknowledgement or a
	// history answer.
	RequestTimeout time.Duration
	// DeliveryQueue is how many received messages may wait for the
	// delivery callback; past it NATS drops them (counted in
	// Stats.Dropped, seen by the app as a hole in the sequence).
	DeliveryQueue int
	// MaxInterest caps the subjects the node subscribes to.
	MaxInterest int
	// ReorderWait is how long a live message that came before an
	// earlier one of its target waits for it; MaxReorder caps the
	// messages waiting per target. Past either, they are delivered with
	// the hole (Message.Prev) for the reader to fetch from History.
	ReorderWait time.Duration
	MaxReorder  int

	// PresenceInterval is how often a node says it is alive;
	// PresenceTTL how long the others keep counting a node that stopped
	// saying so; PresenceDebounce gathers local changes before they are
	// sent.
	PresenceInterval, PresenceTTL, PresenceDebounce time.Duration
	// MaxPresenceEntries caps the rooms and users kept per remote node;
	// MaxNodes the remote nodes.
	MaxPresenceEntries, MaxNodes int

	// ReconnectMin and ReconnectMax bound the reconnect backoff (doubling,
	// with jitter).
	ReconnectMin, ReconnectMax time.Duration

	// Logf, if set, receives the backplane's state changes (one line
	// each). The embedded server's own log is off.
	Logf func(format string, args ...any)
}

// Flags are the command-line values Parse reads.
type Flags struct {
	// Cluster is --cluster: empty (single node), "nats://host:4222[,...]"
	// (also tls://), or "embedded", "embedded:PORT", "embedded:HOST:PORT"
	// (the route port the peers dial, DefaultRoutePort when routes are
	// given).
	Cluster string
	// Routes is --cluster-routes: comma-separated peer route URLs,
	// nats-route://host:port (host:port alone is accepted).
	Routes string
	// Node is --cluster-node, the node name (default: the host name,
	// with "-PORT" when embedded:PORT was given).
	Node string
	// Replicas is --cluster-replicas (0: the default of Config.Replicas).
	Replicas int
	// DataDir is --data-dir: JetStream's directory when embedded.
	DataDir string
	// Storage is --history-storage: "memory", "file", or empty (file
	// when DataDir is set and the node is embedded, memory otherwise).
	Storage string
	// History and HistoryTTL are --history and --history-ttl.
	History    int
	HistoryTTL time.Duration
}

// Environment variables Parse reads through its getenv argument.
const (
	EnvCreds         = "C1M_NATS_CREDS"    // credentials file
	EnvUser          = "C1M_NATS_USER"     // with EnvPassword
	EnvPassword      = "C1M_NATS_PASSWORD" //
	EnvToken         = "C1M_NATS_TOKEN"    //
	EnvCA            = "C1M_NATS_CA"       // CA file for TLS to NATS
	EnvCert          = "C1M_NATS_CERT"     // client certificate, with EnvKey
	EnvKey           = "C1M_NATS_KEY"      //
	EnvRouteUser     = "C1M_CLUSTER_USER"  // route credentials (embedded)
	EnvRoutePassword = "C1M_CLUSTER_PASSWORD"
)

// Parse builds a Config from the command line and the environment
// (getenv is os.Getenv, or a map lookup in tests). It returns ModeOff
// and no error for an empty --cluster, and an error of one sentence
// naming the flag for any bad value.
func Parse(f Flags, getenv func(string) string) (Config, error) {
	var c Config
	v := strings.TrimSpace(f.Cluster)
	switch {
	case v == "":
		if f.Routes != "" {
			return c, fmt.Errorf("cannot use --cluster-routes without --cluster embedded")
		}
		return c, nil
	case v == "embedded" || strings.HasPrefix(v, "embedded:"):
		c.Mode = ModeEmbedded
		if err := parseEmbedded(&c, strings.TrimPrefix(strings.TrimPrefix(v, "embedded"), ":"), v != "embedded"); err != nil {
			return c, err
		}
	default:
		c.Mode = ModeExternal
		for _, u := range strings.Split(v, ",") {
			u = strings.TrimSpace(u)
			if err := checkURL(u, "nats", "tls", "ws", "wss"); err != nil {
				return c, fmt.Errorf("cannot use --cluster %q: %v (want nats://host:port[,...], tls://..., or embedded[:port])", f.Cluster, err)
			}
			c.URLs = append(c.URLs, u)
		}
		if f.Routes != "" {
			return c, fmt.Errorf("cannot use --cluster-routes with an external NATS (%s): routes are for --cluster embedded", v)
		}
	}
	if f.Routes != "" {
		for _, r := range strings.Split(f.Routes, ",") {
			r = strings.TrimSpace(r)
			if !strings.Contains(r, "://") {
				r = "nats-route://" + r
			}
			if err := checkURL(r, "nats-route", "nats", "tls"); err != nil {
				return c, fmt.Errorf("cannot use --cluster-routes %q: %v (want nats-route://host:port[,...])", f.Routes, err)
			}
			c.Routes = append(c.Routes, r)
		}
		if c.RoutePort == 0 {
			c.RoutePort = DefaultRoutePort
		}
	}
	c.NodeName = f.Node
	if c.NodeName == "" {
		h, err := os.Hostname()
		if err != nil || h == "" {
			h = "c1m"
		}
		c.NodeName = h
		if c.Mode == ModeEmbedded && c.RoutePort > 0 && v != "embedded" {
			c.NodeName += "-" + strconv.Itoa(c.RoutePort)
		}
	}
	c.DataDir = f.DataDir
	switch f.Storage {
	case "memory":
		c.Storage = StorageMemory
	case "file":
		c.Storage = StorageFile
		if c.Mode == ModeEmbedded && c.DataDir == "" {
			return c, fmt.Errorf("cannot use --history-storage file without --data-dir")
		}
	case "":
		if c.Mode == ModeEmbedded && c.DataDir != "" {
			c.Storage = StorageFile
		}
	default:
		return c, fmt.Errorf("cannot use --history-storage %q: want memory or file", f.Storage)
	}
	if f.Replicas < 0 || f.Replicas > 5 {
		return c, fmt.Errorf("cannot use --cluster-replicas %d: want 1 to 5", f.Replicas)
	}
	c.Replicas = f.Replicas
	if f.History < 0 {
		return c, fmt.Errorf("cannot use --history %d: want 0 or more messages", f.History)
	}
	c.History = f.History
	if f.HistoryTTL < 0 || (f.HistoryTTL > 0 && f.HistoryTTL < time.Second) {
		return c, fmt.Errorf("cannot use --history-ttl %v: want at least 1s (0 for the default %v)", f.HistoryTTL, DefaultHistoryTTL)
	}
	c.HistoryTTL = f.HistoryTTL
	if getenv == nil {
		getenv = func(string) string { return "" }
	}
	c.CredsFile, c.User, c.Password, c.Token = getenv(EnvCreds), getenv(EnvUser), getenv(EnvPassword), getenv(EnvToken)
	c.CAFile, c.CertFile, c.KeyFile = getenv(EnvCA), getenv(EnvCert), getenv(EnvKey)
	c.RouteUser, c.RoutePassword = getenv(EnvRouteUser), getenv(EnvRoutePassword)
	if _, err := c.withDefaults(); err != nil {
		return c, err
	}
	return c, nil
}

// parseEmbedded reads the part after "embedded:": "", "PORT" or
// "HOST:PORT".
func parseEmbedded(c *Config, s string, given bool) error {
	if !given {
		return nil
	}
	host, port := "", s
	if strings.Contains(s, ":") {
		h, p, err := net.SplitHostPort(s)
		if err != nil {
			return fmt.Errorf("cannot use --cluster embedded:%s: want embedded, embedded:PORT or embedded:HOST:PORT", s)
		}
		host, port = h, p
	}
	n, err := strconv.Atoi(port)
	if err != nil || n < 1 || n > 65535 {
		return fmt.Errorf("cannot use --cluster embedded:%s: the route port must be 1 to 65535", s)
	}
	c.RouteHost, c.RoutePort = host, n
	return nil
}

// checkURL reports whether u is scheme://host:port with one of schemes.
func checkURL(u string, schemes ...string) error {
	p, err := url.Parse(u)
	if err != nil {
		return fmt.Errorf("cannot parse %q", u)
	}
	ok := false
	for _, s := range schemes {
		ok = ok || p.Scheme == s
	}
	switch {
	case !ok:
		return fmt.Errorf("%q has scheme %q, want %s", u, p.Scheme, strings.Join(schemes, ", "))
	case p.Hostname() == "":
		return fmt.Errorf("%q has no host", u)
	case p.Port() != "":
		if n, err := strconv.Atoi(p.Port()); err != nil || n < 1 || n > 65535 {
			return fmt.Errorf("%q has a bad port", u)
		}
	}
	return nil
}

// withDefaults fills the zero fields and checks the result.
func (c Config) withDefaults() (Config, error) {
	def := func(v *int, d int) {
		if *v == 0 {
			*v = d
		}
	}
	defD := func(v *time.Duration, d time.Duration) {
		if *v == 0 {
			*v = d
		}
	}
	if c.Prefix == "" {
		c.Prefix = DefaultPrefix
	}
	if c.Stream == "" {
		c.Stream = DefaultStream
	}
	if c.ClusterName == "" {
		c.ClusterName = DefaultClusterName
	}
	if c.NodeName == "" {
		h, err := os.Hostname()
		if err != nil || h == "" {
			h = "c1m"
		}
		c.NodeName = h
	}
	if c.Replicas == 0 {
		// Three replicas survive the loss of one node; with fewer than
		// three nodes JetStream has no majority to spare, so one replica
		// costs least.
		c.Replicas = 1
		if c.Mode == ModeEmbedded && clusterSize(c) >= 3 {
			c.Replicas = 3
		}
	}
	if c.MaxStreamBytes == 0 {
		c.MaxStreamBytes = DefaultMaxStreamBytes
	}
	defD(&c.HistoryTTL, DefaultHistoryTTL)
	def(&c.MaxMessageSize, DefaultMaxMessageSize)
	def(&c.MaxInflight, DefaultMaxInflight)
	def(&c.MaxHistoryBatch, DefaultMaxHistoryBatch)
	def(&c.MaxHistoryRequests, DefaultMaxHistoryRequests)
	defD(&c.RequestTimeout, DefaultRequestTimeout)
	def(&c.DeliveryQueue, DefaultDeliveryQueue)
	def(&c.MaxInterest, DefaultMaxInterest)
	defD(&c.ReorderWait, DefaultReorderWait)
	def(&c.MaxReorder, DefaultMaxReorder)
	defD(&c.PresenceInterval, DefaultPresenceInterval)
	defD(&c.PresenceTTL, DefaultPresenceTTL)
	defD(&c.PresenceDebounce, DefaultPresenceDebounce)
	def(&c.MaxPresenceEntries, DefaultMaxPresenceEntries)
	def(&c.MaxNodes, DefaultMaxNodes)
	defD(&c.ReconnectMin, DefaultReconnectMin)
	defD(&c.ReconnectMax, DefaultReconnectMax)

	switch {
	case c.Mode != ModeExternal && c.Mode != ModeEmbedded:
		return c, fmt.Errorf("cannot start the backplane: mode %v needs no Cluster", c.Mode)
	case c.Mode == ModeExternal && len(c.URLs) == 0:
		return c, fmt.Errorf("cannot start the backplane: no NATS URL given")
	case c.Mode == ModeEmbedded && len(c.Routes) > 0 && c.RoutePort == 0:
		return c, fmt.Errorf("cannot start the backplane: routes to peers need a route port")
	case c.Mode == ModeEmbedded && len(c.Routes) == 0 && c.RoutePort != 0:
		return c, fmt.Errorf("cannot listen for routes without --cluster-routes: a clustered JetStream needs its peers' routes (a single node needs neither)")
	case !validPrefix(c.Prefix):
		return c, fmt.Errorf("cannot use subject prefix %q: want tokens of [A-Za-z0-9_-] separated by dots", c.Prefix)
	case !validStreamName(c.Stream):
		return c, fmt.Errorf("cannot use stream name %q: want [A-Za-z0-9_-], at most 32 bytes", c.Stream)
	case !validStreamName(c.ClusterName):
		return c, fmt.Errorf("cannot use cluster name %q: want [A-Za-z0-9_-], at most 32 bytes", c.ClusterName)
	case strings.ContainsAny(c.NodeName, " \t\r\n.*>") || len(c.NodeName) > 128:
		return c, fmt.Errorf("cannot use node name %q: no spaces, dots or wildcards, at most 128 bytes", c.NodeName)
	case c.Replicas < 1 || c.Replicas > 5:
		return c, fmt.Errorf("cannot use %d stream replicas: want 1 to 5", c.Replicas)
	case c.History < 0:
		return c, fmt.Errorf("cannot keep a history of %d messages: want 0 or more", c.History)
	case c.HistoryTTL < time.Second:
		return c, fmt.Errorf("cannot keep history for %v: want at least 1s", c.HistoryTTL)
	case c.MaxStreamBytes < 1<<20:
		return c, fmt.Errorf("cannot cap the stream at %d bytes: want at least 1 MiB", c.MaxStreamBytes)
	case c.MaxMessageSize < 1 || c.MaxMessageSize > 8<<20:
		return c, fmt.Errorf("cannot cap messages at %d bytes: want 1 byte to 8 MiB", c.MaxMessageSize)
	case c.MaxInflight < 1 || c.MaxHistoryBatch < 1 || c.MaxHistoryRequests < 1 || c.DeliveryQueue < 1 || c.MaxInterest < 1 || c.MaxReorder < 1:
		return c, fmt.Errorf("cannot start the backplane: in-flight, batch, queue and interest caps must be positive")
	case c.MaxPresenceEntries < 1 || c.MaxNodes < 1:
		return c, fmt.Errorf("cannot start the backplane: presence caps must be positive")
	case c.ReorderWait < time.Millisecond || c.ReorderWait > time.Minute:
		return c, fmt.Errorf("cannot wait %v for messages out of order: want 1ms to 1m", c.ReorderWait)
	case c.RequestTimeout < time.Millisecond:
		return c, fmt.Errorf("cannot use request timeout %v: want at least 1ms", c.RequestTimeout)
	case c.PresenceTTL <= c.PresenceInterval:
		return c, fmt.Errorf("cannot use presence TTL %v: want more than the interval %v", c.PresenceTTL, c.PresenceInterval)
	case c.PresenceInterval < time.Millisecond || c.PresenceDebounce < time.Millisecond:
		return c, fmt.Errorf("cannot use presence interval %v / debounce %v: want at least 1ms", c.PresenceInterval, c.PresenceDebounce)
	case c.ReconnectMin < time.Millisecond || c.ReconnectMax < c.ReconnectMin:
		return c, fmt.Errorf("cannot use reconnect backoff %v..%v", c.ReconnectMin, c.ReconnectMax)
	}
	return c, nil
}

// clusterSize counts this node and the distinct peers of its routes,
// not counting a route to this node itself (every node may be given the
// same list): a route to RoutePort on a loopback address, on RouteHost,
// on the host name or on one of the host's addresses.
func clusterSize(c Config) int {
	self := map[string]bool{"localhost": true, c.RouteHost: true}
	if h, err := os.Hostname(); err == nil {
		self[h] = true
	}
	if addrs, err := net.InterfaceAddrs(); err == nil {
		for _, a := range addrs {
			if ipn, ok := a.(*net.IPNet); ok {
				self[ipn.IP.String()] = true
			}
		}
	}
	peers := map[string]bool{}
	for _, r := range c.Routes {
		u, err := url.Parse(r)
		if err != nil {
			continue
		}
		host, port := u.Hostname(), u.Port()
		ip := net.ParseIP(host)
		if port == strconv.Itoa(c.RoutePort) && (self[host] || ip != nil && ip.IsLoopback()) {
			continue
		}
		peers[u.Host] = true
	}
	return 1 + len(peers)
}

func validPrefix(p string) bool {
	if p == "" || len(p) > 64 {
		return false
	}
	for _, tok := range strings.Split(p, ".") {
		if tok == "" {
			return false
		}
		for i := 0; i < len(tok); i++ {
			if !plainTokenByte(tok[i]) {
				return false
			}
		}
	}
	return true
}

func validStreamName(s string) bool {
	if s == "" || len(s) > 32 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !plainTokenByte(s[i]) {
			return false
		}
	}
	return true
}
