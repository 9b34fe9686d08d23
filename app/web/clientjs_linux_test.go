//go:build linux

package web

import (
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"

	"c1m/internal/c1mtest"
)

// fakeServer speaks just enough of the c1m protocol to test c1m.js in a
// browser, including what the real server may not send yet (the shutdown
// message) and what it cannot be made to do on cue (close with a chosen
// code, refuse handshakes): join → joined (count 1), room_message → ack and
// the message back (seq counts up), except data {"text":"fail"} →
// rate_limited and {"text":"silent"} → no reply; direct_message → ack.
type fakeServer struct {
	t     *testing.T
	joins chan fakeJoin

	mu     sync.Mutex
	conns  []*fakeConn
	seq    int
	refuse int // handshakes still to refuse with 503
}

type fakeConn struct {
	c        net.Conn
	wmu      sync.Mutex // guards writes and kicked
	kicked   bool       // the server sent a close frame
	user     string
	protocol string
}

// fakeJoin is a join the server received; Since is nil without "since".
type fakeJoin struct {
	Room     string  `json:"room"`
	Presence bool    `json:"presence"`
	Since    *uint64 `json:"since"`
	user     string
	protocol string
}

func (f *fakeServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	if f.refuse > 0 {
		f.refuse--
		f.mu.Unlock()
		http.Error(w, "draining", http.StatusServiceUnavailable)
		return
	}
	f.mu.Unlock()
	fc := &fakeConn{user: r.URL.Query().Get("user")}
	u := ws.HTTPUpgrader{Protocol: func(p string) bool {
		if strings.HasPrefix(p, "token.") {
			fc.protocol = p
			return true
		}
		return false
	}}
	conn, _, _, err := u.Upgrade(r, w)
	if err != nil {
		return
	}
	fc.c = conn
	f.mu.Lock()
	f.conns = append(f.conns, fc)
	f.mu.Unlock()
	defer conn.Close()
	for {
		h, p, err := testReadFrame(conn)
		if err != nil {
			return
		}
		switch h.OpCode {
		case ws.OpClose:
			fc.wmu.Lock()
			if !fc.kicked { // answer the client's close; after a kick this is the answer
				_ = ws.WriteFrame(conn, ws.NewCloseFrame(p))
			}
			fc.wmu.Unlock()
			return
		case ws.OpText:
		default:
			continue
		}
		var m struct {
			Type string          `json:"type"`
			Room string          `json:"room"`
			ID   json.RawMessage `json:"id"`
			Data struct {
				Text string `json:"text"`
			} `json:"data"`
		}
		if err := json.Unmarshal(p, &m); err != nil {
			f.t.Errorf("the client sent %q: %v", p, err)
			return
		}
		switch m.Type {
		case "join":
			var j fakeJoin
			_ = json.Unmarshal(p, &j)
			j.user, j.protocol = fc.user, fc.protocol
			f.joins <- j
			fc.send(`{"type":"joined","room":"` + m.Room + `","count":1,"id":` + string(m.ID) + `}`)
		case "room_message", "direct_message":
			switch m.Data.Text {
			case "silent":
			case "fail":
				fc.send(`{"type":"error","code":"rate_limited","message":"too many messages; slow down","id":` + string(m.ID) + `}`)
			default:
				f.mu.Lock()
				f.seq++
				seq := f.seq
				f.mu.Unlock()
				fc.send(`{"type":"ack","id":` + string(m.ID) + `,"seq":` + itoa(seq) + `}`)
				if m.Type == "room_message" {
					fc.send(`{"type":"message","room":"` + m.Room + `","from":"` + fc.user + `","seq":` + itoa(seq) + `,"ts":1,"data":{"text":"` + m.Data.Text + `"}}`)
				}
			}
		}
	}
}

func itoa(n int) string { b, _ := json.Marshal(n); return string(b) }

func (fc *fakeConn) send(msg string) {
	fc.wmu.Lock()
	defer fc.wmu.Unlock()
	_ = wsutil.WriteServerText(fc.c, []byte(msg))
}

// last returns the newest connection.
func (f *fakeServer) last() *fakeConn {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.conns[len(f.conns)-1]
}

// kick sends the newest connection a close frame with code and reason
// (the client's reply ends it).
func (f *fakeServer) kick(code ws.StatusCode, reason string) {
	fc := f.last()
	fc.wmu.Lock()
	defer fc.wmu.Unlock()
	fc.kicked = true
	_ = ws.WriteFrame(fc.c, ws.NewCloseFrame(ws.NewCloseFrameBody(code, reason)))
}

// join waits for the next join the server receives.
func (f *fakeServer) join() fakeJoin {
	f.t.Helper()
	select {
	case j := <-f.joins:
		return j
	case <-time.After(30 * time.Second):
		f.t.Fatal("no join within 30s")
		return fakeJoin{}
	}
}

const clientTestPage = `<!doctype html><title>c1m.js test</title>
<script type="module">
import { C1MClient } from "/c1m.js";
window.C1MClient = C1MClient;
window.events = [];
window.until = async (f, what, ms = 20000) => {
  const t0 = Date.now();
  while (!f()) {
    if (Date.now() - t0 > ms) throw new Error("still waiting for " + what + "; events: " + JSON.stringify(events));
    await new Promise((r) => setTimeout(r, 10));
  }
};
window.track = (c) => {
  for (const type of ["state", "open", "close", "joined", "message", "gap", "shutdown", "error"]) {
    c.on(type, (d) => events.push({ type, ...(d instanceof Error ? { code: d.code } : d) }));
  }
  return c;
};
window.waits = () => events.filter((e) => e.type === "state" && e.state === "waiting");
window.ready = true;
</script>`

// TestClientJS runs c1m.js in Chromium against fakeServer: acks as
// promises (resolved, rejected with the server's code, timed out), the
// last seq per room (messages and gaps), the shutdown hint, rejoin with
// "since", jittered exponential backoff with a cap, no reconnect after
// 1008, and the token as a subprotocol.
func TestClientJS(t *testing.T) {
	fake := &fakeServer{t: t, joins: make(chan fakeJoin, 16)}
	mux := http.NewServeMux()
	mux.Handle("/ws", fake)
	mux.HandleFunc("/c1m.js", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/javascript")
		_, _ = w.Write(Client)
	})
	mux.HandleFunc("/test.html", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		_, _ = w.Write([]byte(clientTestPage))
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()
	wsURL := "ws" + strings.TrimPrefix(srv.URL, "http") + "/ws"

	ctx := c1mtest.Browser(t)
	if err := chromedp.Do(ctx, chromedp.Navigate(srv.URL+"/test.html")); err != nil {
		t.Fatal(err)
	}
	eval := func(js string, out any) {
		t.Helper()
		v, err := chromedp.Run(ctx, chromedp.Evaluate[json.RawMessage](js, chromedp.EvalAwaitPromise))
		if err != nil {
			t.Fatalf("%v\nin: %s", err, js)
		}
		if out != nil {
			if err := json.Unmarshal(v, out); err != nil {
				t.Fatalf("%s: %v", v, err)
			}
		}
	}
	eval(`until(() => window.ready, "the module")`, nil)

	// Acks resolve, errors reject with the server's code, silence times out.
	var r1 struct {
		Count, Seq1, Seq2 int
		Fail, Silent      string
		LastSeq           int
		Rooms             []string
		State             string
	}
	eval(`(async () => {
  const c = window.c = track(new C1MClient(`+jsString(wsURL)+`, { user: "ann", ackTimeoutMs: 300, backoff: { initialMs: 40, maxMs: 200 } }));
  await c.connect();
  const j = await c.join("r", { presence: true });
  const a1 = await c.send("r", { text: "one" });
  const a2 = await c.sendDirect("bob", { text: "dm" });
  const fail = await c.send("r", { text: "fail" }).then(() => "resolved", (e) => e.name + ":" + e.code);
  const silent = await c.send("r", { text: "silent" }).then(() => "resolved", (e) => e.code);
  await until(() => c.lastSeq("r") === 1, "the message back");
  return { count: j.count, seq1: a1.seq, seq2: a2.seq, fail, silent, lastSeq: c.lastSeq("r"), rooms: c.rooms, state: c.state };
})()`, &r1)
	if r1.Count != 1 || r1.Seq1 != 1 || r1.Seq2 != 2 || r1.Fail != "C1MError:rate_limited" || r1.Silent != "timeout" || r1.LastSeq != 1 || len(r1.Rooms) != 1 || r1.State != "open" {
		t.Fatalf("requests: %+v", r1)
	}
	if j := fake.join(); j.Room != "r" || !j.Presence || j.Since != nil || j.user != "ann" || j.protocol != "" {
		t.Fatalf("first join: %+v, want room r with presence, no since, user ann, no token", j)
	}

	// A gap moves the last seq on; a shutdown message then a 1001 close:
	// the client waits about the hint (never less), reconnects, and
	// rejoins from the last seq.
	fake.last().send(`{"type":"gap","room":"r","from_seq":2,"to_seq":5,"missed":4}`)
	eval(`until(() => c.lastSeq("r") === 5, "the gap")`, nil)
	fake.last().send(`{"type":"shutdown","reconnect_in_ms":300}`)
	fake.kick(ws.StatusGoingAway, "server draining; reconnect with jittered backoff")
	if j := fake.join(); j.Room != "r" || j.Since == nil || *j.Since != 5 || !j.Presence {
		t.Fatalf("rejoin after the shutdown: %+v, want room r since 5 with presence", j)
	}
	var r2 struct {
		Waits      []map[string]any
		Reconnects int
		Rejoined   bool
		Shutdowns  int
	}
	eval(`(async () => {
  await until(() => events.some((e) => e.type === "joined" && e.rejoin), "the rejoin event");
  return { waits: waits(), reconnects: c.reconnects, rejoined: true, shutdowns: events.filter((e) => e.type === "shutdown").length };
})()`, &r2)
	if len(r2.Waits) != 1 || r2.Reconnects != 1 || r2.Shutdowns != 1 {
		t.Fatalf("after the shutdown: %+v", r2)
	}
	if w := r2.Waits[0]; w["hinted"] != true || w["code"] != float64(1001) || w["delayMs"].(float64) < 300 || w["delayMs"].(float64) > 375 {
		t.Fatalf("wait after the shutdown message: %v, want about 300 ms (300-375) from the hint", w)
	}

	// A close reason naming a delay counts as a hint too.
	fake.kick(ws.StatusGoingAway, "reconnect_in_ms=250")
	if j := fake.join(); j.Since == nil || *j.Since != 5 {
		t.Fatalf("rejoin: %+v", j)
	}
	var waits []map[string]any
	eval(`(async () => { await until(() => c.reconnects === 2 && c.rooms.length === 1, "the second reconnect"); return waits(); })()`, &waits)
	if w := waits[1]; w["hinted"] != true || w["delayMs"].(float64) < 250 || w["delayMs"].(float64) > 313 {
		t.Fatalf("wait after reconnect_in_ms=250: %v", w)
	}

	// Without a hint, and with the server refusing three handshakes: the
	// delays follow the jittered exponential backoff, capped (40 ms
	// doubling, 200 ms at most; each delay in [cap/2, cap]).
	fake.mu.Lock()
	fake.refuse = 3
	fake.mu.Unlock()
	fake.kick(ws.StatusInternalServerError, "boom")
	fake.join()
	eval(`(async () => { await until(() => c.reconnects === 3 && c.rooms.length === 1, "the third reconnect"); return waits(); })()`, &waits)
	if len(waits) != 6 {
		t.Fatalf("waits: %v, want 2 hinted and 4 backoff steps", waits)
	}
	for i, w := range waits[2:] {
		limit := min(200.0, 40*float64(int(1)<<i))
		d := w["delayMs"].(float64)
		if w["hinted"] != false || w["attempt"] != float64(i) || d < limit/2-1 || d > limit+1 {
			t.Fatalf("backoff step %d: %v, want attempt %d and a delay in [%v, %v]", i, w, i, limit/2, limit)
		}
	}

	// 1008 is final: the client closes, rejects what waits, does not
	// reconnect.
	fake.kick(ws.StatusPolicyViolation, "banned")
	var r3 struct {
		State, Join, Send string
	}
	eval(`(async () => {
  await until(() => c.state === "closed", "the closed state");
  const join = await c.join("x").then(() => "resolved", (e) => e.code);
  const send = await c.send("r", {}).then(() => "resolved", (e) => e.code);
  return { state: c.state, join, send };
})()`, &r3)
	if r3.State != "closed" || r3.Join != "closed" || r3.Send != "disconnected" {
		t.Fatalf("after 1008: %+v", r3)
	}

	// A token goes in the subprotocol, and a join made before the
	// connection opens resolves once it has.
	var r4 struct{ Count int }
	eval(`(async () => {
  const c2 = track(new C1MClient(`+jsString(wsURL)+`, { token: () => Promise.resolve("aaa.bbb.ccc") }));
  const joined = c2.join("t");
  c2.connect();
  const j = await joined;
  c2.close();
  return { count: j.count };
})()`, &r4)
	if j := fake.join(); r4.Count != 1 || j.Room != "t" || j.protocol != "token.aaa.bbb.ccc" || j.user != "" {
		t.Fatalf("token client: %+v, join %+v", r4, j)
	}
}

func jsString(s string) string { b, _ := json.Marshal(s); return string(b) }
