package debuggc

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

// garbage holds an allocation the test drops before asking for a
// collection.
var garbage []byte

// post sends method to the handler and returns the recorded answer.
func post(t *testing.T, h http.Handler, method string) *httptest.ResponseRecorder {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(method, "/debug/gc", nil))
	return rec
}

// TestHandler: GET is refused with Allow: POST; a POST collects and
// reports what is live afterwards (garbage dropped just before is not);
// another POST within MinInterval gets 429 with Retry-After, and one
// after it collects again. The gate's clock is the test's, so no real
// time decides the outcome.
func TestHandler(t *testing.T) {
	clock := time.Unix(1_000_000, 0)
	processGate.now = func() time.Time { return clock }
	processGate.last = time.Time{}
	t.Cleanup(func() { processGate.now = time.Now })
	h := Handler(PlainText)

	if rec := post(t, h, http.MethodGet); rec.Code != http.StatusMethodNotAllowed || rec.Header().Get("Allow") != http.MethodPost {
		t.Fatalf("GET: %d, Allow %q; want 405, POST", rec.Code, rec.Header().Get("Allow"))
	}

	const size = 32 << 20
	garbage = make([]byte, size)
	garbage[size-1] = 1
	garbage = nil
	rec := post(t, h, http.MethodPost)
	var rep Report
	if err := json.Unmarshal(rec.Body.Bytes(), &rep); rec.Code != http.StatusOK || err != nil {
		t.Fatalf("POST: %d, %v", rec.Code, err)
	}
	if rep.HeapLive == 0 || rep.HeapLive >= size || rep.HeapInuse < rep.HeapLive || rep.Stacks == 0 || rep.Runtime == 0 || rep.Seconds <= 0 {
		t.Fatalf("POST: %+v; want the live heap without the dropped %d bytes, and the other parts", rep, size)
	}

	clock = clock.Add(MinInterval - time.Millisecond)
	if rec := post(t, h, http.MethodPost); rec.Code != http.StatusTooManyRequests || rec.Header().Get("Retry-After") != "1" {
		t.Fatalf("POST within MinInterval: %d, Retry-After %q; want 429, 1", rec.Code, rec.Header().Get("Retry-After"))
	}
	clock = clock.Add(time.Millisecond)
	if rec := post(t, h, http.MethodPost); rec.Code != http.StatusOK {
		t.Fatalf("POST after MinInterval: %d, want 200", rec.Code)
	}
}

// TestOneAtATime: while a collection runs, another request is refused
// with 429 and the refusal format of the caller.
func TestOneAtATime(t *testing.T) {
	processGate.mu.Lock()
	defer processGate.mu.Unlock()
	var code string
	h := Handler(func(w http.ResponseWriter, status int, c, msg string) { code = c; PlainText(w, status, c, msg) })
	if rec := post(t, h, http.MethodPost); rec.Code != http.StatusTooManyRequests || code != "busy" || rec.Header().Get("Retry-After") != "1" {
		t.Fatalf("POST during a collection: %d, code %q, Retry-After %q; want 429, busy, 1", rec.Code, code, rec.Header().Get("Retry-After"))
	}
}
