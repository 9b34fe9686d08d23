//go:build linux

package main

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"c1m/internal/c1mtest"
)

// haproxy is a running HAProxy started by a test with the shipped
// configuration.
type haproxy struct {
	addr string // the TLS frontend, host:port
	sock string // the stats socket
	out  *lockedBuf
}

type lockedBuf struct {
	mu sync.Mutex
	b  strings.Builder
}

func (b *lockedBuf) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *lockedBuf) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// startHAProxy runs deploy/haproxy/c1m.cfg in the foreground with the
// test's frontend address, certificate and nodes in place of the shipped
// ones (and maxconn within this box's open-files limit: the shipped
// million makes HAProxy ask for two million descriptors), and waits
// until HAProxy reports every node up.
func startHAProxy(t *testing.T, tlsf c1mtest.TLSFiles, nodes ...*node) *haproxy {
	t.Helper()
	bin, err := exec.LookPath("haproxy")
	if err != nil {
		if _, serr := os.Stat("/usr/sbin/haproxy"); serr != nil {
			t.Fatalf("haproxy not found (%v): install Debian's haproxy package (.ci/deps does, as part of make test)", err)
		}
		bin = "/usr/sbin/haproxy"
	}
	shipped, err := os.ReadFile("../../deploy/haproxy/c1m.cfg")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	var servers []c1mtest.LBServer
	for _, nd := range nodes {
		_, port, _ := net.SplitHostPort(nd.MetricsAddr)
		p, _ := strconv.Atoi(port)
		servers = append(servers, c1mtest.LBServer{Addr: nd.Addr, MetricsPort: p})
	}
	h := &haproxy{addr: c1mtest.FreeAddr(t), sock: filepath.Join(dir, "admin.sock"), out: &lockedBuf{}}
	cfg := c1mtest.RenderHAProxy(t, string(shipped), c1mtest.HAProxyOptions{
		Bind: h.addr, PEMFile: tlsf.PEMFile, Dir: dir, Servers: servers, MaxConn: 2000,
	})
	name := filepath.Join(dir, "haproxy.cfg")
	if err := os.WriteFile(name, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "-db", "-f", name) // -db: foreground, no daemon
	cmd.Stdout, cmd.Stderr = h.out, h.out
	if err := cmd.Start(); err != nil {
		t.Fatalf("cannot start haproxy: %v", err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-exited
		if t.Failed() {
			t.Logf("haproxy output:\n%s\nconfiguration:\n%s", h.out.String(), cfg)
		}
	})
	for i := range nodes {
		h.waitServer(t, i, "UP", exited)
	}
	return h
}

// status returns HAProxy's view of the backend's servers: "UP", "DOWN",
// ... by server name, from "show stat" on the stats socket.
func (h *haproxy) status() (map[string]string, error) {
	c, err := net.DialTimeout("unix", h.sock, 2*time.Second)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(c, "show stat\n"); err != nil {
		return nil, err
	}
	st := map[string]string{}
	sc := bufio.NewScanner(c)
	col := -1
	for sc.Scan() {
		f := strings.Split(sc.Text(), ",")
		if strings.HasPrefix(sc.Text(), "# ") {
			col = slices.Index(f, "status")
			continue
		}
		if col > 0 && len(f) > col && f[0] == "c1m_nodes" && f[1] != "BACKEND" {
			st[f[1]] = f[col]
		}
	}
	return st, sc.Err()
}

// waitServer waits until HAProxy reports node i (node1, node2, ...) in
// state want (a prefix: "DOWN" also matches "DOWN 1/2").
func (h *haproxy) waitServer(t *testing.T, i int, want string, exited <-chan struct{}) {
	t.Helper()
	name := "node" + strconv.Itoa(i+1)
	var last map[string]string
	var err error
	c1mtest.Eventually(t, 30*time.Second, func() bool {
		select {
		case <-exited:
			t.Fatalf("haproxy exited:\n%s", h.out.String())
		default:
		}
		last, err = h.status()
		return err == nil && strings.HasPrefix(last[name], want)
	}, func() string { return fmt.Sprintf("haproxy to report %s %s: %v (%v)", name, want, last, err) })
}

// wssClient is a browser-like client behind HAProxy: wss:// with the
// test's CA, from its own source address, in one room; it keeps what it
// got across reconnections.
type wssClient struct {
	t    *testing.T
	user string
	src  net.IP
	h    *haproxy
	tlsf c1mtest.TLSFiles

	mu     sync.Mutex
	msgs   []clusterMsg // room messages, across connections
	joined bool         // the current connection's join was answered
	conn   *websocket.Conn
	done   chan struct{} // closed when the current connection ends
}

// dialWSS opens a wss:// connection through h from src; resp is the
// server's answer when the upgrade was refused.
func dialWSS(h *haproxy, tlsf c1mtest.TLSFiles, src net.IP, path string) (*websocket.Conn, *http.Response, error) {
	d := websocket.Dialer{
		NetDialContext:   (&net.Dialer{LocalAddr: &net.TCPAddr{IP: src}, Timeout: 10 * time.Second}).DialContext,
		TLSClientConfig:  &tls.Config{RootCAs: tlsf.Pool},
		HandshakeTimeout: 10 * time.Second,
	}
	return d.DialContext(context.Background(), "wss://"+h.addr+path, nil)
}

// connect joins the room "lb" through HAProxy with since (0: everything
// the room has had), and reads in the background until the connection
// ends.
func (c *wssClient) connect(since uint64) {
	c.t.Helper()
	conn, resp, err := dialWSS(c.h, c.tlsf, c.src, "/ws?user="+c.user)
	if err != nil {
		c.t.Fatalf("%s: cannot connect through haproxy: %v (%v)", c.user, err, resp)
	}
	c.mu.Lock()
	c.conn, c.joined, c.done = conn, false, make(chan struct{})
	done := c.done
	c.mu.Unlock()
	c.t.Cleanup(func() { conn.Close() })
	if err := conn.WriteMessage(websocket.TextMessage, []byte(`{"type":"join","room":"lb","id":"j","since":`+strconv.FormatUint(since, 10)+`}`)); err != nil {
		c.t.Fatal(err)
	}
	go func() {
		defer close(done)
		for {
			_, b, err := conn.ReadMessage()
			if err != nil {
				return
			}
			var x clusterMsg
			if json.Unmarshal(b, &x) != nil {
				continue
			}
			c.mu.Lock()
			switch {
			case x.Type == "joined":
				c.joined = true
			case x.Type == "message" && x.Room != nil && *x.Room == "lb":
				c.msgs = append(c.msgs, x)
			case x.Type == "gap" || x.Type == "error":
				c.msgs = append(c.msgs, x) // never expected: fails the comparison
			}
			c.mu.Unlock()
		}
	}()
	c1mtest.Eventually(c.t, 30*time.Second, func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		return c.joined
	}, c1mtest.Say(c.user+" joined lb through haproxy"))
}

func (c *wssClient) gone() bool {
	select {
	case <-c.done:
		return true
	default:
		return false
	}
}

func (c *wssClient) seqs() []uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	var s []uint64
	for _, m := range c.msgs {
		s = append(s, m.Seq)
	}
	return s
}

// lastSeq is what a client resumes from: the last seq it saw (0: none).
func (c *wssClient) lastSeq() uint64 {
	s := c.seqs()
	if len(s) == 0 {
		return 0
	}
	return s[len(s)-1]
}

// proxyV2Header is what a balancer would send for a TCP/IPv4 client.
func proxyV2Header(src netip.AddrPort) []byte {
	b := []byte("\r\n\r\n\x00\r\nQUIT\n\x21\x11\x00\x0c")
	a := src.Addr().As4()
	b = append(b, a[:]...)
	b = append(b, 127, 0, 0, 1)
	b = binary.BigEndian.AppendUint16(b, src.Port())
	return binary.BigEndian.AppendUint16(b, 8080)
}

// TestHAProxyFailover: HAProxy, with the shipped configuration, in front
// of two c1m nodes (--proxy-protocol, --history, one embedded cluster).
// wss:// clients, each from its own loopback address, connect through it
// with the test's certificate and join a room; one node is killed
// (SIGKILL); its clients reconnect through HAProxy, land on the other
// node, resume with since and miss nothing: each client's messages are
// every message published, in order, each once, before, during and after
// the outage. c1m sees the clients' own addresses, not HAProxy's: its
// per-address accept limit refuses one client address past its burst
// while another goes on, and its 429 log line names the client.
//
// The cluster has a third node, not behind HAProxy: the message stream
// (JetStream) keeps a majority, and so takes publishes, only if two of
// three replicas survive; two nodes cannot lose one. It also holds the
// observer, a client that stays connected throughout.
func TestHAProxyFailover(t *testing.T) {
	nodes := startCluster(t, 3, "--history", "1000", "--proxy-protocol", "--accept-rate-per-ip", "0.01") // burst 8 per address
	a, b, c := nodes[0], nodes[1], nodes[2]
	tlsf := c1mtest.NewTLSFiles(t)
	h := startHAProxy(t, tlsf, a, b)

	// The observer talks to C directly, so it writes its own PROXY
	// header (C refuses a connection without one).
	oc, err := c1mtest.Dial(c.Addr, c1mtest.DialOptions{ReadTimeout: 60 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if err := oc.Send(proxyV2Header(netip.MustParseAddrPort("192.0.2.99:40000"))); err != nil {
		t.Fatal(err)
	}
	if _, head, err := oc.Upgrade("/ws?user=observer"); err != nil {
		t.Fatalf("observer: %v %q", err, head)
	}
	observer := &member{t: t, c: oc, done: make(chan struct{})}
	t.Cleanup(oc.Close)
	if err := oc.SendText(`{"type":"join","room":"lb","id":"j","since":0}`); err != nil {
		t.Fatal(err)
	}
	go observer.read()

	const nClients = 8
	clients := make([]*wssClient, nClients)
	for i := range clients {
		clients[i] = &wssClient{t: t, user: "u" + strconv.Itoa(i), src: net.IPv4(127, 0, 1, byte(i+1)), h: h, tlsf: tlsf}
		clients[i].connect(0)
	}
	onA := int(a.Metric("c1m_connections"))
	if onA == 0 || int(b.Metric("c1m_connections")) != nClients-onA {
		t.Fatalf("leastconn put %v clients on A and %v on B, want all %d spread over both", onA, b.Metric("c1m_connections"), nClients)
	}

	var (
		published []uint64 // seqs of the publishes B's API accepted
		ambiguous bool     // a publish timed out: it may or may not be stored
	)
	publish := func(what string, n int) {
		t.Helper()
		for k := 0; k < n; k++ {
			var code int
			var seq uint64
			c1mtest.Eventually(t, 60*time.Second, func() bool {
				code, seq = publishAPI(t, b.api, fmt.Sprintf(`{"room":"lb","data":"%s-%d"}`, what, k))
				ambiguous = ambiguous || code == http.StatusGatewayTimeout
				return code == http.StatusAccepted
			}, func() string { return fmt.Sprintf("B's API to accept %s %d: last status %d", what, k, code) })
			published = append(published, seq)
		}
	}
	haveAll := func(what string, cs []*wssClient) {
		t.Helper()
		want := published[len(published)-1]
		for _, cl := range cs {
			c1mtest.Eventually(t, 30*time.Second, func() bool { return cl.lastSeq() >= want }, c1mtest.Say(cl.user+" to get "+what))
		}
	}

	publish("before", 10)
	haveAll("the messages published before the kill", clients)

	// SIGKILL: no drain, no close frames; the kernel resets A's sockets
	// and HAProxy closes the clients' connections.
	a.Stop()
	var lost []*wssClient
	c1mtest.Eventually(t, 30*time.Second, func() bool {
		lost = lost[:0]
		for _, cl := range clients {
			if cl.gone() {
				lost = append(lost, cl)
			}
		}
		return len(lost) == onA
	}, func() string {
		return fmt.Sprintf("the %d clients of the killed node to lose their connections; %d did", onA, len(lost))
	})
	if int(b.Metric("c1m_connections")) != nClients-onA {
		t.Fatalf("B lost connections when A was killed: %v open, want %d", b.Metric("c1m_connections"), nClients-onA)
	}

	publish("outage", 10) // while A's clients are away
	for _, cl := range lost {
		cl.connect(cl.lastSeq())
	}
	if got := int(b.Metric("c1m_connections")); got != nClients {
		t.Fatalf("after the reconnections B holds %d connections, want all %d clients", got, nClients)
	}
	publish("after", 10)
	haveAll("every message", clients)

	// The observer, connected to C throughout, got every message of the
	// room once, in order: the reference.
	c1mtest.Eventually(t, 30*time.Second, func() bool {
		ms := observer.roomMsgs("lb")
		return len(ms) > 0 && ms[len(ms)-1].Seq >= published[len(published)-1]
	}, c1mtest.Say("the observer to get every message"))
	var ref []uint64
	for _, m := range observer.roomMsgs("lb") {
		ref = append(ref, m.Seq)
	}
	for i := 1; i < len(ref); i++ {
		if ref[i] <= ref[i-1] {
			t.Fatalf("the observer got seq %d after %d: %v", ref[i], ref[i-1], ref)
		}
	}
	if !ambiguous && !slices.Equal(ref, published) {
		t.Fatalf("the observer got seqs %v; B's API accepted %v", ref, published)
	}
	for _, s := range published {
		if !slices.Contains(ref, s) {
			t.Fatalf("accepted publish %d never reached the observer: %v", s, ref)
		}
	}
	for _, cl := range clients {
		if got := cl.seqs(); !slices.Equal(got, ref) {
			t.Fatalf("%s got seqs %v, want every message published, in order, once: %v", cl.user, got, ref)
		}
	}
	t.Logf("%d of %d clients moved from A to B; %d messages, each client got all of them once, in order", onA, nClients, len(ref))

	// The real addresses: B's per-address limit (burst 8) counts each
	// client address on its own. HAProxy, from one address of its own,
	// stands between them and B, and A is down, so everything goes to B.
	h.waitServer(t, 0, "DOWN", nil)
	before := b.Metric(`c1m_handshake_failures_total{reason="rate_limited"}`)
	status := func(src net.IP) int {
		t.Helper()
		conn, resp, err := dialWSS(h, tlsf, src, "/ws?user=probe")
		if err == nil {
			conn.Close()
			return http.StatusSwitchingProtocols
		}
		if errors.Is(err, websocket.ErrBadHandshake) && resp != nil {
			return resp.StatusCode
		}
		t.Fatalf("from %v: %v", src, err)
		return 0
	}
	var got []int
	for i := 0; i < 9; i++ {
		got = append(got, status(net.IPv4(127, 0, 0, 2)))
	}
	if want := []int{101, 101, 101, 101, 101, 101, 101, 101, 429}; !slices.Equal(got, want) {
		t.Fatalf("9 connections from 127.0.0.2 through haproxy: %v, want %v (c1m's burst of 8 for that address)", got, want)
	}
	if st := status(net.IPv4(127, 0, 0, 3)); st != http.StatusSwitchingProtocols {
		t.Fatalf("a connection from 127.0.0.3 through haproxy: %d, want 101 (another client address)", st)
	}
	if got := b.Metric(`c1m_handshake_failures_total{reason="rate_limited"}`) - before; got != 1 {
		t.Fatalf("B counted %v rate-limited handshakes, want 1", got)
	}
	c1mtest.Eventually(t, 10*time.Second, func() bool {
		return strings.Contains(b.Output(), "client=127.0.0.2:")
	}, c1mtest.Say("B to log the refused client's own address"))
}
