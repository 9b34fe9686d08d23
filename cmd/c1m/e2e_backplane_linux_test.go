//go:build linux

package main

import (
	"net/http"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"c1m/internal/c1mtest"
)

// natsServer runs Debian's nats-server (JetStream on, its store in dir) on
// addr until the test ends or stop is called.
type natsServer struct {
	t    *testing.T
	addr string
	dir  string
	cmd  *exec.Cmd
	done chan struct{}
}

func startNATS(t *testing.T, addr, dir string) *natsServer {
	t.Helper()
	bin, err := exec.LookPath("nats-server")
	if err != nil {
		t.Fatalf("nats-server is not installed (Debian package nats-server; make deps installs it): %v", err)
	}
	host, port, _ := strings.Cut(addr, ":")
	n := &natsServer{t: t, addr: addr, dir: dir, done: make(chan struct{})}
	n.cmd = exec.Command(bin, "-a", host, "-p", port, "-js", "-sd", dir)
	if err := n.cmd.Start(); err != nil {
		t.Fatalf("cannot start nats-server: %v", err)
	}
	go func() { _ = n.cmd.Wait(); close(n.done) }()
	t.Cleanup(n.stop)
	return n
}

func (n *natsServer) stop() {
	select {
	case <-n.done:
		return
	default:
	}
	_ = n.cmd.Process.Signal(syscall.SIGKILL)
	<-n.done
}

// readyz returns a node's /readyz status and body.
func readyz(t *testing.T, nd *node) (int, string) {
	t.Helper()
	code, body, err := nd.Get("/readyz")
	if err != nil {
		return 0, err.Error()
	}
	return code, strings.TrimSpace(body)
}

// TestBackplaneOutage: two nodes on an external NATS. NATS dies: each node
// reports degraded on /readyz (and says why) but stays in service; a
// client's room message still reaches the members on its node, marked
// local; the API refuses (503) so that back ends publish elsewhere. NATS
// comes back: the nodes reconnect and resubscribe by themselves, and
// messages cross nodes again.
func TestBackplaneOutage(t *testing.T) {
	natsAddr := c1mtest.FreeAddr(t)
	dir := t.TempDir()
	ns := startNATS(t, natsAddr, dir)
	nodes := make([]*node, 2)
	for i := range nodes {
		addr, maddr := c1mtest.FreeAddr(t), c1mtest.FreeAddr(t)
		nd := &node{api: c1mtest.FreeAddr(t)}
		p, err := c1mtest.Start(t, addr, maddr, []string{"serve", "--auth=none", "--addr", addr, "--metrics-addr", maddr,
			"--api-addr", nd.api, "--cluster", "nats://" + natsAddr, "--cluster-node", "n" + strconv.Itoa(i), "--history", "10",
			"--drain-delay=0", "--log-level", "warn"}, nil)
		if err != nil {
			t.Fatal(err)
		}
		nd.Proc = p
		nodes[i] = nd
	}
	a, b := nodes[0], nodes[1]
	for _, nd := range nodes {
		c1mtest.Eventually(t, 30*time.Second, func() bool { code, body := readyz(t, nd); return code == 200 && body == "ok" },
			c1mtest.Say("the node ready on NATS"))
	}
	a1 := join(t, a, "a1", "r", -1)
	a2 := join(t, a, "a2", "r", -1)
	b1 := join(t, b, "b1", "r", -1)
	settle(t, b, "r", a1, a2, b1)

	ns.stop()
	for i, nd := range nodes {
		var code int
		var body string
		c1mtest.Eventually(t, 30*time.Second, func() bool {
			code, body = readyz(t, nd)
			return code == 200 && strings.HasPrefix(body, "degraded: cluster:")
		}, func() string {
			return "node " + strconv.Itoa(i) + ": /readyz " + strconv.Itoa(code) + " " + body + ", want 200 degraded: cluster: ..."
		})
	}
	if got := a.Metric("c1m_cluster_connected"); got != 0 {
		t.Fatalf("c1m_cluster_connected %v while NATS is down, want 0", got)
	}
	// Local delivery goes on.
	before := len(a2.roomMsgs("r"))
	if err := a1.c.SendText(`{"type":"room_message","room":"r","data":"during","id":"x"}`); err != nil {
		t.Fatal(err)
	}
	a2.waitFor(func([]clusterMsg) bool {
		ms := a2.roomMsgs("r")
		return len(ms) > before && ms[len(ms)-1].Local && string(ms[len(ms)-1].Data) == `"during"`
	}, "a2, on a1's node, to get a1's message while NATS is down, marked local")
	a1.waitFor(func(ms []clusterMsg) bool {
		for _, x := range ms {
			if x.Type == "ack" && string(x.ID) == `"x"` && x.Local && x.Seq == 0 {
				return true
			}
		}
		return false
	}, "a1's ack, local and without seq")
	if code, _ := publishAPI(t, a.api, `{"room":"r","data":"api"}`); code != http.StatusServiceUnavailable {
		t.Fatalf("API publish while NATS is down: %d, want 503", code)
	}

	// NATS back on the same address: the nodes recover on their own.
	startNATS(t, natsAddr, dir)
	for _, nd := range nodes {
		c1mtest.Eventually(t, 60*time.Second, func() bool { code, body := readyz(t, nd); return code == 200 && body == "ok" },
			c1mtest.Say("the node ready again after NATS came back"))
	}
	n1, n2 := len(a1.roomMsgs("r")), len(a2.roomMsgs("r"))
	c1mtest.Eventually(t, 30*time.Second, func() bool {
		code, _ := publishAPI(t, b.api, `{"room":"r","data":"after"}`)
		return code == http.StatusAccepted && len(a1.roomMsgs("r")) > n1 && len(a2.roomMsgs("r")) > n2
	}, c1mtest.Say("a message published on B after the outage to reach A's members (A resubscribed)"))
}
