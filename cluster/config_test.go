package cluster

import (
	"strings"
	"testing"
	"time"
)

func TestParse(t *testing.T) {
	env := map[string]string{
		EnvCreds: "/etc/c1m/nats.creds", EnvCA: "/etc/c1m/ca.pem",
		EnvRouteUser: "route", EnvRoutePassword: "secret",
	}
	getenv := func(k string) string { return env[k] }
	f := func(in Flags, check func(c Config) bool) {
		t.Helper()
		c, err := Parse(in, getenv)
		if err != nil {
			t.Fatalf("Parse(%+v): %v", in, err)
		}
		if !check(c) {
			t.Fatalf("Parse(%+v) = %+v", in, c)
		}
	}
	f(Flags{}, func(c Config) bool { return c.Mode == ModeOff })
	f(Flags{Cluster: "nats://a:4222, tls://b:4443"}, func(c Config) bool {
		return c.Mode == ModeExternal && len(c.URLs) == 2 && c.URLs[1] == "tls://b:4443" &&
			c.CredsFile == "/etc/c1m/nats.creds" && c.CAFile == "/etc/c1m/ca.pem" && c.Storage == StorageMemory
	})
	f(Flags{Cluster: "embedded"}, func(c Config) bool {
		return c.Mode == ModeEmbedded && c.RoutePort == 0 && c.NodeName != "" && c.Storage == StorageMemory
	})
	f(Flags{Cluster: "embedded", DataDir: "/var/lib/c1m", History: 100, HistoryTTL: time.Hour}, func(c Config) bool {
		return c.Storage == StorageFile && c.DataDir == "/var/lib/c1m" && c.History == 100 && c.HistoryTTL == time.Hour
	})
	f(Flags{Cluster: "embedded:7222", Routes: "a:7222,nats-route://b:7222", Node: "web-1"}, func(c Config) bool {
		return c.RoutePort == 7222 && c.RouteHost == "" && len(c.Routes) == 2 &&
			c.Routes[0] == "nats-route://a:7222" && c.NodeName == "web-1" && c.RouteUser == "route"
	})
	f(Flags{Cluster: "embedded:10.0.0.5:7222", Routes: "b:7222"}, func(c Config) bool {
		return c.RouteHost == "10.0.0.5" && c.RoutePort == 7222 && strings.HasSuffix(c.NodeName, "-7222")
	})
	f(Flags{Cluster: "embedded", Routes: "b:6222,c:6222"}, func(c Config) bool {
		return c.RoutePort == DefaultRoutePort
	})
	f(Flags{Cluster: "nats://a:4222", Storage: "file", Replicas: 3}, func(c Config) bool {
		return c.Storage == StorageFile && c.Replicas == 3
	})

	bad := func(in Flags, want string) {
		t.Helper()
		_, err := Parse(in, getenv)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Fatalf("Parse(%+v) = %v, want an error with %q", in, err, want)
		}
		if strings.Contains(err.Error(), "\n") {
			t.Fatalf("Parse(%+v): error of more than one line: %q", in, err)
		}
	}
	bad(Flags{Cluster: "redis://a:6379"}, `--cluster "redis://a:6379"`)
	bad(Flags{Cluster: "nats://:4222"}, "has no host")
	bad(Flags{Cluster: "nats://a:99999"}, "bad port")
	bad(Flags{Cluster: "embedded:x"}, "route port must be 1 to 65535")
	bad(Flags{Cluster: "embedded:0"}, "route port must be 1 to 65535")
	bad(Flags{Cluster: "embedded:a:b:c"}, "want embedded, embedded:PORT")
	bad(Flags{Cluster: "embedded:7222"}, "without --cluster-routes")
	bad(Flags{Routes: "a:6222"}, "without --cluster embedded")
	bad(Flags{Cluster: "nats://a:4222", Routes: "b:6222"}, "routes are for --cluster embedded")
	bad(Flags{Cluster: "embedded", Routes: "http://b:6222"}, "--cluster-routes")
	bad(Flags{Cluster: "embedded", Storage: "disk"}, "--history-storage")
	bad(Flags{Cluster: "embedded", Storage: "file"}, "without --data-dir")
	bad(Flags{Cluster: "embedded", History: -1}, "--history -1")
	bad(Flags{Cluster: "embedded", HistoryTTL: time.Millisecond}, "--history-ttl")
	bad(Flags{Cluster: "embedded", Replicas: 7}, "--cluster-replicas 7")
	bad(Flags{Cluster: "embedded", Node: "a.b"}, "node name")
}

func TestConfigDefaults(t *testing.T) {
	c, err := Config{Mode: ModeEmbedded}.withDefaults()
	if err != nil {
		t.Fatal(err)
	}
	if c.Prefix != DefaultPrefix || c.Stream != DefaultStream || c.Replicas != 1 ||
		c.HistoryTTL != DefaultHistoryTTL || c.MaxInflight != DefaultMaxInflight ||
		c.PresenceTTL != DefaultPresenceTTL || c.MaxStreamBytes != DefaultMaxStreamBytes {
		t.Fatalf("defaults: %+v", c)
	}
	replicas := func(port int, routes ...string) int {
		t.Helper()
		c, err := Config{Mode: ModeEmbedded, RoutePort: port, Routes: routes}.withDefaults()
		if err != nil {
			t.Fatal(err)
		}
		return c.Replicas
	}
	if r := replicas(6222, "nats-route://a:6222", "nats-route://b:6222"); r != 3 {
		t.Fatalf("two peers: %d replicas, want 3", r)
	}
	// The same list on every node: this node's own route does not count.
	if r := replicas(6222, "nats-route://127.0.0.1:6222", "nats-route://b:6222", "nats-route://c:6222"); r != 3 {
		t.Fatalf("self and two peers: %d replicas, want 3", r)
	}
	if r := replicas(6222, "nats-route://127.0.0.1:6222", "nats-route://b:6222"); r != 1 {
		t.Fatalf("self and one peer: %d replicas, want 1", r)
	}
	if r := replicas(6222, "nats-route://127.0.0.1:6223", "nats-route://127.0.0.1:6224"); r != 3 {
		t.Fatalf("two peers on this host: %d replicas, want 3", r)
	}
	bad := func(c Config, want string) {
		t.Helper()
		if _, err := c.withDefaults(); err == nil || !strings.Contains(err.Error(), want) {
			t.Fatalf("%+v: %v, want %q", c, err, want)
		}
	}
	bad(Config{}, "needs no Cluster")
	bad(Config{Mode: ModeExternal}, "no NATS URL")
	bad(Config{Mode: ModeEmbedded, Prefix: "c1m.>"}, "subject prefix")
	bad(Config{Mode: ModeEmbedded, Stream: "a.b"}, "stream name")
	bad(Config{Mode: ModeEmbedded, PresenceInterval: time.Second, PresenceTTL: time.Second}, "presence TTL")
	bad(Config{Mode: ModeEmbedded, MaxStreamBytes: 1000}, "at least 1 MiB")
	bad(Config{Mode: ModeEmbedded, MaxMessageSize: 16 << 20}, "1 byte to 8 MiB")
	if _, err := New(Config{Mode: ModeEmbedded}, nil); err == nil {
		t.Fatal("New without a delivery callback succeeded")
	}
}
