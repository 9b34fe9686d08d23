package pubapi

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"c1m/internal/debuggc"
)

// TestDebugGC: the comparison servers answer POST /debug/gc as c1m serve
// does, the memory after a collection, and refuse GET with this API's
// JSON error. The gate (one a second) is internal/debuggc's and tested
// there.
func TestDebugGC(t *testing.T) {
	srv := httptest.NewServer(Handler(Config{Name: "test", Publish: func([]byte) (uint64, error) { return 0, nil }, Metrics: func(io.Writer) {}}))
	defer srv.Close()
	f := func(method string, want int) *http.Response {
		t.Helper()
		req, _ := http.NewRequest(method, srv.URL+"/debug/gc", nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode != want {
			t.Fatalf("%s /debug/gc: %d, want %d", method, resp.StatusCode, want)
		}
		return resp
	}
	resp := f(http.MethodGet, http.StatusMethodNotAllowed)
	var e struct{ Error string }
	err := json.NewDecoder(resp.Body).Decode(&e)
	resp.Body.Close()
	if allow := resp.Header.Get("Allow"); allow != http.MethodPost {
		t.Fatalf("GET /debug/gc: Allow %q, want POST", allow)
	}
	if err != nil || e.Error != "method_not_allowed" {
		t.Fatalf("GET /debug/gc: %+v, %v; want the JSON error method_not_allowed", e, err)
	}
	resp = f(http.MethodPost, http.StatusOK)
	var rep debuggc.Report
	err = json.NewDecoder(resp.Body).Decode(&rep)
	resp.Body.Close()
	if err != nil || rep.HeapLive == 0 || rep.HeapInuse < rep.HeapLive || rep.Stacks == 0 || rep.Seconds <= 0 {
		t.Fatalf("POST /debug/gc: %+v, %v; want the memory after the collection", rep, err)
	}
}
