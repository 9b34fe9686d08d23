package bench

import (
	"strings"
	"testing"
)

func TestCheckCluster(t *testing.T) {
	f := func(c Config, wantErr string) {
		t.Helper()
		c.Conns, c.Scenarios = 100, []string{ScenarioIdle}
		err := c.defaults()
		switch {
		case wantErr == "" && err != nil:
			t.Fatalf("%+v: %v, want no error", c, err)
		case wantErr != "" && (err == nil || !strings.Contains(err.Error(), wantErr)):
			t.Fatalf("%+v: error %v, want one containing %q", c, err, wantErr)
		}
	}
	f(Config{}, "")
	f(Config{Cluster: "embedded"}, "")
	f(Config{Cluster: "nats://127.0.0.1:4222,nats://127.0.0.1:4223"}, "")
	f(Config{Cluster: "embedded", PublishVia: "ws"}, "")
	f(Config{Cluster: "http://127.0.0.1:4222"}, "want embedded or nats://")
	f(Config{Cluster: "nats://"}, "want embedded or nats://")
	f(Config{PublishVia: "ws"}, "without --cluster")
	f(Config{Cluster: "embedded", PublishVia: "carrier-pigeon"}, "want api or ws")
	f(Config{Cluster: "embedded", Publishers: -1}, "want 1 to 1024")
	f(Config{Cluster: "embedded", Server: ServerRaw}, "only c1m's app handler")
	f(Config{Cluster: "embedded", Handler: "discard"}, "only c1m's app handler")
	f(Config{Cluster: "embedded", Targets: []Target{{}}}, "--target")
}

func TestClusterArgs(t *testing.T) {
	c := Config{Cluster: ClusterEmbedded, Servers: 3, BasePort: 25000}
	got := strings.Join(clusterArgs(&c, 1), " ")
	// Ports 25000-25008 are the servers' WebSocket, metrics and API
	// ports; the routes follow.
	want := "--cluster embedded:127.0.0.1:25010 --cluster-routes 127.0.0.1:25009,127.0.0.1:25010,127.0.0.1:25011 --cluster-node bench-1"
	if got != want {
		t.Fatalf("clusterArgs = %q, want %q", got, want)
	}
	c = Config{Cluster: "nats://10.0.0.1:4222", Servers: 2, PublishVia: PublishViaWS}
	if got := strings.Join(clusterArgs(&c, 0), " "); !strings.HasPrefix(got, "--cluster nats://10.0.0.1:4222 --cluster-node bench-0 --rate-burst") {
		t.Fatalf("clusterArgs = %q, want the NATS URL, the node name and a rate limit the publishers fit in", got)
	}
	if args := clusterArgs(&Config{Servers: 2}, 0); args != nil {
		t.Fatalf("clusterArgs without a cluster = %q, want none", args)
	}
}

func TestPublisherIndex(t *testing.T) {
	// Rooms of 3 over 3 servers (connection i on server i mod 3): the
	// publishers are members of their rooms and take the servers in turn.
	seen := map[int]int{}
	for r := 0; r < 30; r++ {
		g := publisherIndex(r, 3, 90)
		if g/3 != r {
			t.Fatalf("room %d's publisher %d is not a member", r, g)
		}
		seen[g%3]++
	}
	if seen[0] != 10 || seen[1] != 10 || seen[2] != 10 {
		t.Fatalf("publishers by server %v, want 10 each", seen)
	}
	// The last room may be short: its publisher is still in it.
	if g := publisherIndex(4, 10, 42); g < 40 || g >= 42 {
		t.Fatalf("publisher of the short last room = %d, want 40 or 41", g)
	}
}

func TestPayloadNamesItsNode(t *testing.T) {
	p := newClusterPublisher([]string{"a", "b"}, []int{18080, 18081}, "", 64, 1)
	b := p.payloadVia(123456, 1) // a six-digit k, as the size assumes
	if len(b) != 64 {
		t.Fatalf("payload of %d bytes, want 64: %s", len(b), b)
	}
	sent, origin, ok := sendOrigin(append(append([]byte(`{"type":"message","room":"r1","seq":3,"data":`), b...), '}'))
	if !ok || sent <= 0 || origin != 18081 {
		t.Fatalf("sendOrigin = %d, %d, %v; want the send time and port 18081", sent, origin, ok)
	}
	// Without a cluster the message is as before: no node.
	b = newPublisher([]string{"a"}, "", 64).payload(123456)
	if _, origin, ok := sendOrigin(b); !ok || origin != 0 || len(b) != 64 || strings.Contains(string(b), `"o"`) {
		t.Fatalf("single-node payload %s: origin %d, ok %v; want 64 bytes, no node", b, origin, ok)
	}
}
