//go:build linux

package server

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"c1m/internal/debuggc"
)

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

// TestDebugGC: with Config.DebugGC, the metrics listener answers
// POST /debug/gc with the memory after a collection and refuses GET with
// 405 in plain text. The gate (one a second) is internal/debuggc's and
// tested there.
func TestDebugGC(t *testing.T) {
	s := startServer(t, Config{MaxConns: 100, DebugGC: true})
	url := "http://" + s.MetricsAddr() + "/debug/gc"

	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed || resp.Header.Get("Allow") != http.MethodPost ||
		!strings.HasPrefix(resp.Header.Get("Content-Type"), "text/plain") {
		t.Fatalf("GET /debug/gc: %d, Allow %q, %q; want 405, POST, text/plain", resp.StatusCode, resp.Header.Get("Allow"), resp.Header.Get("Content-Type"))
	}

	resp, err = http.Post(url, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	var rep debuggc.Report
	err = json.NewDecoder(resp.Body).Decode(&rep)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || err != nil || rep.HeapLive == 0 || rep.Stacks == 0 {
		t.Fatalf("POST /debug/gc: %d, %+v, %v; want 200 and the memory after the collection", resp.StatusCode, rep, err)
	}
}
