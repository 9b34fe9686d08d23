//go:build linux

package server

import (
	"encoding/json"
	"net/http"
	"testing"
)

// garbage holds an allocation the test drops before asking for a
// collection.
var garbage []byte

// TestDebugGCOffByDefault: without Config.DebugGC the metrics listener
// has no /debug/gc, so whoever reaches it cannot make the server collect.
func TestDebugGCOffByDefault(t *testing.T) {
	s := startServer(t, Config{MaxConns: 100})
	resp, err := http.Post("http://"+s.MetricsAddr()+"/debug/gc", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Fatalf("POST /debug/gc without DebugGC: %d, want 404", resp.StatusCode)
	}
}

// TestDebugGC: with Config.DebugGC, POST /debug/gc on the metrics
// listener collects and says what is live afterwards (garbage made just
// before is not), GET is refused, and a second collection within a
// second gets 429.
func TestDebugGC(t *testing.T) {
	s := startServer(t, Config{MaxConns: 100, DebugGC: true})
	url := "http://" + s.MetricsAddr() + "/debug/gc"

	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed || resp.Header.Get("Allow") != http.MethodPost {
		t.Fatalf("GET /debug/gc: %d, Allow %q; want 405, POST", resp.StatusCode, resp.Header.Get("Allow"))
	}

	const size = 32 << 20
	garbage = make([]byte, size)
	garbage[size-1] = 1
	garbage = nil
	resp, err = http.Post(url, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	var rep gcReport
	err = json.NewDecoder(resp.Body).Decode(&rep)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || err != nil {
		t.Fatalf("POST /debug/gc: %d, %v", resp.StatusCode, err)
	}
	if rep.HeapLive == 0 || rep.HeapLive >= size || rep.HeapInuse < rep.HeapLive || rep.Stacks == 0 || rep.Runtime == 0 || rep.Seconds <= 0 {
		t.Fatalf("POST /debug/gc: %+v; want the live heap without the dropped %d bytes, and the other parts", rep, size)
	}

	resp, err = http.Post(url, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") != "1" {
		t.Fatalf("second POST within a second: %d, Retry-After %q; want 429, 1", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
}
