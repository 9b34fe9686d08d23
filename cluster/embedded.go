package cluster

import (
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// embeddedReadyTimeout bounds the embedded server's start (its
// listeners, not its routes: peers may come up later).
const embeddedReadyTimeout = 10 * time.Second

// startEmbedded starts the node's own nats-server with JetStream. It
// returns the server and the temporary directory to remove on Close
// ("" when Config.DataDir was given).
func startEmbedded(c Config) (*server.Server, string, error) {
	dir, tmp := c.DataDir, ""
	if dir == "" {
		d, err := os.MkdirTemp("", "c1m-nats-")
		if err != nil {
			return nil, "", fmt.Errorf("cannot create a JetStream directory: %w", err)
		}
		dir, tmp = d, d
	} else {
		dir = filepath.Join(dir, "nats")
	}
	fail := func(err error) (*server.Server, string, error) {
		if tmp != "" {
			_ = os.RemoveAll(tmp)
		}
		return nil, "", err
	}
	limit := c.MaxStreamBytes + 64<<20
	opts := &server.Options{
		ServerName: c.NodeName,
		// A client port on loopback only: the node connects in process.
		// nats-server starts routing only after its client listener, so
		// a clustered server needs one (DontListen would stall it).
		DontListen:         c.ClientPort == 0 && c.RoutePort == 0,
		Host:               "127.0.0.1",
		Port:               clientPort(c),
		NoLog:              c.Logf == nil,
		NoSigs:             true,
		JetStream:          true,
		StoreDir:           dir,
		JetStreamMaxMemory: limit,
		JetStreamMaxStore:  limit,
		MaxPayload:         int32(max(c.MaxMessageSize+4096, 1<<20)),
	}
	if c.RoutePort != 0 {
		host := c.RouteHost
		if host == "" {
			host = "0.0.0.0"
		}
		opts.Cluster = server.ClusterOpts{
			Name:     c.ClusterName,
			Host:     host,
			Port:     c.RoutePort,
			Username: c.RouteUser,
			Password: c.RoutePassword,
		}
		for _, r := range c.Routes {
			u, err := url.Parse(r)
			if err != nil {
				return fail(fmt.Errorf("cannot parse route %q: %w", r, err))
			}
			if u.User == nil && c.RouteUser != "" {
				u.User = url.UserPassword(c.RouteUser, c.RoutePassword)
			}
			opts.Routes = append(opts.Routes, u)
		}
	}
	srv, err := server.NewServer(opts)
	if err != nil {
		return fail(fmt.Errorf("cannot configure the embedded NATS server: %w", err))
	}
	log := &serverLog{logf: c.Logf}
	srv.SetLogger(log, false, false)
	srv.Start()
	for end := time.Now().Add(embeddedReadyTimeout); !srv.ReadyForConnections(50 * time.Millisecond); {
		if why := log.lastError(); why != "" || time.Now().After(end) {
			srv.Shutdown()
			if why == "" {
				why = fmt.Sprintf("not ready within %v", embeddedReadyTimeout)
			}
			return fail(fmt.Errorf("cannot start the embedded NATS server: %s", why))
		}
	}
	return srv, tmp, nil
}

func clientPort(c Config) int {
	if c.ClientPort == 0 && c.RoutePort != 0 {
		return server.RANDOM_PORT
	}
	return c.ClientPort
}

// serverLog passes the embedded server's warnings and errors to
// Config.Logf (when set) and keeps the last fatal or JetStream start
// error, which New reports when the server does not come up. Notices,
// debug and trace lines are dropped.
type serverLog struct {
	logf func(string, ...any)
	mu   sync.Mutex
	last string
}

func (l *serverLog) Noticef(string, ...any)   {}
func (l *serverLog) Debugf(string, ...any)    {}
func (l *serverLog) Tracef(string, ...any)    {}
func (l *serverLog) Warnf(f string, v ...any) { l.out(f, v) }
func (l *serverLog) Errorf(f string, v ...any) {
	l.out(f, v)
	if strings.HasPrefix(f, "Can't start JetStream") || strings.HasPrefix(f, "Error listening") {
		l.keep(f, v)
	}
}
func (l *serverLog) Fatalf(f string, v ...any) { l.out(f, v); l.keep(f, v) }

func (l *serverLog) out(f string, v []any) {
	if l.logf != nil {
		l.logf("nats-server: "+f, v...)
	}
}

func (l *serverLog) keep(f string, v []any) {
	l.mu.Lock()
	l.last = fmt.Sprintf(f, v...)
	l.mu.Unlock()
}

func (l *serverLog) lastError() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.last
}
