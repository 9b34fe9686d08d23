package bench

import (
	"net/netip"
	"strings"
	"testing"
)

func TestParseSources(t *testing.T) {
	f := func(in string, want []string, wantErr bool) {
		t.Helper()
		got, err := ParseSources(in)
		if (err != nil) != wantErr {
			t.Fatalf("ParseSources(%q) error %v, want error %v", in, err, wantErr)
		}
		if len(got) != len(want) {
			t.Fatalf("ParseSources(%q) = %v, want %v", in, got, want)
		}
		for i := range want {
			if got[i].String() != want[i] {
				t.Fatalf("ParseSources(%q)[%d] = %v, want %v", in, i, got[i], want[i])
			}
		}
	}
	f("127.0.0.2", []string{"127.0.0.2"}, false)
	f("127.0.0.2-127.0.0.4, 127.0.0.9", []string{"127.0.0.2", "127.0.0.3", "127.0.0.4", "127.0.0.9"}, false)
	f("127.0.0.4-127.0.0.2", nil, true)
	f("::1", nil, true)
	f("", nil, true)
	if n := len(DefaultSources()); n != 253 {
		t.Fatalf("DefaultSources has %d addresses, want 253 (127.0.0.2-254)", n)
	}
}

func TestEndpointSpreadsAndNeverRepeats(t *testing.T) {
	src := []netip.Addr{netip.MustParseAddr("127.0.0.2"), netip.MustParseAddr("127.0.0.3")}
	seen := map[string]bool{}
	for i := 0; i < 100; i++ {
		a, p, err := Endpoint(src, 10000, 10049, i)
		if err != nil {
			t.Fatalf("Endpoint(%d): %v", i, err)
		}
		k := netip.AddrPortFrom(a, uint16(p)).String()
		if seen[k] {
			t.Fatalf("Endpoint(%d) repeats %s", i, k)
		}
		seen[k] = true
	}
	if _, _, err := Endpoint(src, 10000, 10049, 100); err == nil {
		t.Fatal("Endpoint past the range: want an error")
	}
}

func TestParseTarget(t *testing.T) {
	f := func(in, want string, wantErr bool) {
		t.Helper()
		got, err := ParseTarget(in)
		if (err != nil) != wantErr {
			t.Fatalf("ParseTarget(%q) error %v, want error %v", in, err, wantErr)
		}
		if err == nil && got.String() != want {
			t.Fatalf("ParseTarget(%q) = %s, want %s", in, got, want)
		}
	}
	f("ws://127.0.0.1:8080/ws", "ws://127.0.0.1:8080/ws", false)
	f("ws://localhost:9/", "ws://127.0.0.1:9/", false)
	f("ws://127.0.0.1:8080", "ws://127.0.0.1:8080/", false)
	f("http://127.0.0.1:8080/ws", "", true)
	f("ws://example.com:80/ws", "", true)
	f("ws://127.0.0.1/ws", "", true)
}

func TestPlan(t *testing.T) {
	f := func(conns, servers, workers int, limit uint64, wantS, wantW int, wantErr bool) {
		t.Helper()
		c := Config{Conns: conns, Servers: servers, Workers: workers}
		err := c.plan(limit)
		if (err != nil) != wantErr {
			t.Fatalf("plan(%d on %d/%d, limit %d): %v", conns, servers, workers, limit, err)
		}
		if err == nil && (c.Servers != wantS || c.Workers != wantW) {
			t.Fatalf("plan(%d): %d servers %d workers, want %d/%d", conns, c.Servers, c.Workers, wantS, wantW)
		}
	}
	f(19000, 0, 0, 20000, 1, 1, false)
	f(30000, 2, 2, 20000, 2, 2, false)
	f(1000000, 0, 0, 20000, 51, 51, false)
	f(30000, 1, 2, 20000, 0, 0, true)
	f(1000000, 0, 0, 1100000, 1, 1, false)
}

func TestParseServers(t *testing.T) {
	f := func(in string, want string) {
		t.Helper()
		got, err := ParseServers(in)
		if err != nil {
			got = []string{"error: " + err.Error()}
		}
		if s := strings.Join(got, ","); !strings.Contains(s, want) {
			t.Fatalf("ParseServers(%q) = %q, want %q", in, s, want)
		}
	}
	f("raw,c1m,baseline", "raw,c1m,baseline")
	f(" raw , c1m ", "raw,c1m")
	f("raw", "error: cannot compare \"raw\": name at least two")
	f("raw,raw", "error: cannot compare server \"raw\" twice")
	f("raw,nginx", "error: cannot compare server \"nginx\"")
	f("", "error:")
}

func TestConfigRefuses(t *testing.T) {
	f := func(c Config, want string) {
		t.Helper()
		if c.Conns == 0 {
			c.Conns = 10
		}
		err := c.defaults()
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Fatalf("defaults(%+v): %v, want an error with %q", c, err, want)
		}
	}
	f(Config{Server: "nginx", Scenarios: []string{ScenarioIdle}}, "want c1m, raw or baseline")
	f(Config{Server: ServerRaw, Scenarios: []string{ScenarioRooms}}, "rooms scenario on the raw server")
	f(Config{Server: ServerBaseline, Scenarios: []string{ScenarioRooms}}, "rooms scenario on the baseline server")
	f(Config{Scenarios: []string{ScenarioIdle}, JWTSecret: strings.Repeat("s", 32), JWTPrivateKey: "k.pem"}, "give one")
}
