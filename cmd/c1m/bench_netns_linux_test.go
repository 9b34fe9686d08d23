//go:build linux

package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"c1m/internal/c1mtest"
)

// The agent tests put each load-generator agent in a network namespace
// of its own, as a separate host would be: a veth pair links it to the
// root namespace, where the orchestrator and the server run.
//
//	root namespace                       c1m-agent-t<pid>-<name>
//	10.123.<n>.1/24  <── veth pair ──>  10.123.<n>.2/24, default route via .1
//
// The server listens on the first agent's link address (10.123.1.1); the
// other agents reach it through their default route (the root namespace
// owns that address, so nothing needs forwarding). Namespaces and links
// are deleted when the test ends, also on failure.

// agentNetns is one agent's namespace and link.
type agentNetns struct {
	name       string // the namespace
	root, addr string // the root side's and the agent side's addresses
}

// ipCmd runs ip(8) with args and fails t with its output if it fails.
func ipCmd(t *testing.T, args ...string) {
	t.Helper()
	if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
		t.Fatalf("ip %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// newAgentNetns creates the namespace c1m-agent-t<pid>-<tag> linked to the
// root namespace on 10.123.<subnet>.0/24. It fails the test loudly when ip
// is missing or the namespace cannot be made (the test needs root).
func newAgentNetns(t *testing.T, tag string, subnet int) agentNetns {
	t.Helper()
	if _, err := exec.LookPath("ip"); err != nil {
		t.Fatalf("the agent tests need ip(8) from iproute2 to make network namespaces: %v", err)
	}
	pid := os.Getpid() % 100000
	n := agentNetns{name: fmt.Sprintf("c1m-agent-t%d-%s", pid, tag),
		root: fmt.Sprintf("10.123.%d.1", subnet), addr: fmt.Sprintf("10.123.%d.2", subnet)}
	// Interface names hold at most 15 bytes.
	vr, va := fmt.Sprintf("c1ma%d%sr", pid, tag), fmt.Sprintf("c1ma%d%sa", pid, tag)
	ipCmd(t, "netns", "add", n.name)
	t.Cleanup(func() {
		_ = exec.Command("ip", "netns", "del", n.name).Run() // takes the veth pair with it
		_ = exec.Command("ip", "link", "del", vr).Run()      // in case the pair was made but not moved
	})
	ipCmd(t, "link", "add", vr, "type", "veth", "peer", "name", va, "netns", n.name)
	ipCmd(t, "addr", "add", n.root+"/24", "dev", vr)
	ipCmd(t, "link", "set", vr, "up")
	ipCmd(t, "-n", n.name, "addr", "add", n.addr+"/24", "dev", va)
	ipCmd(t, "-n", n.name, "link", "set", va, "up")
	ipCmd(t, "-n", n.name, "link", "set", "lo", "up")
	ipCmd(t, "-n", n.name, "route", "add", "default", "via", n.root)
	return n
}

// setSysctl writes a /proc/sys key inside the namespace (net.* keys are
// the namespace's own).
func (n agentNetns) setSysctl(t *testing.T, key, value string) {
	t.Helper()
	path := "/proc/sys/" + strings.ReplaceAll(key, ".", "/")
	if out, err := exec.Command("ip", "netns", "exec", n.name, "sh", "-c", "echo "+value+" > "+path).CombinedOutput(); err != nil {
		t.Fatalf("cannot set %s in %s: %v\n%s", key, n.name, err, out)
	}
}

// agentProc is a `c1m bench agent` running in a namespace.
type agentProc struct {
	addr string // host:port it listens on
	cmd  *exec.Cmd
	mu   sync.Mutex
	log  bytes.Buffer
	done chan struct{}
}

func (a *agentProc) output() string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.log.String()
}

// startAgent runs `c1m bench agent --listen <ns addr>:port extra...` in n
// (through `ip netns exec`, which execs the binary in place, so the
// process is the agent; prefix, e.g. prlimit, goes before the binary),
// with env, and waits until it listens. The test's cleanup stops it.
func startAgent(t *testing.T, n agentNetns, port int, env []string, prefix []string, extra ...string) *agentProc {
	t.Helper()
	a := &agentProc{addr: n.addr + ":" + strconv.Itoa(port), done: make(chan struct{})}
	args := append([]string{"netns", "exec", n.name}, prefix...)
	args = append(args, c1mtest.Binary(t), "bench", "agent", "--listen", a.addr)
	a.cmd = exec.Command("ip", append(args, extra...)...)
	a.cmd.Env = c1mtest.Env(env...)
	stderr, err := a.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := a.cmd.Start(); err != nil {
		t.Fatalf("cannot start the agent in %s: %v", n.name, err)
	}
	listening := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(stderr)
		once := sync.Once{}
		for sc.Scan() {
			a.mu.Lock()
			a.log.WriteString(sc.Text() + "\n")
			a.mu.Unlock()
			if strings.Contains(sc.Text(), "listening on") {
				once.Do(func() { close(listening) })
			}
		}
		_ = a.cmd.Wait()
		close(a.done)
	}()
	t.Cleanup(func() {
		_ = a.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-a.done:
		case <-time.After(40 * time.Second):
			_ = a.cmd.Process.Kill()
			<-a.done
		}
		if t.Failed() {
			t.Logf("agent %s output:\n%s", a.addr, a.output())
		}
	})
	select {
	case <-listening:
	case <-a.done:
		t.Fatalf("the agent in %s exited before listening:\n%s", n.name, a.output())
	case <-time.After(30 * time.Second):
		t.Fatalf("the agent in %s did not listen within 30 s:\n%s", n.name, a.output())
	}
	return a
}

// benchResult is one `c1m bench` run's outcome.
type benchResult struct {
	stdout, stderr string
	code           int
	dir            string // its --out
}

// runBenchIn runs `c1m bench args... --out <dir>` in env, at most limit;
// watch, if not nil, sees every stderr line as it comes.
func runBenchIn(t *testing.T, limit time.Duration, env []string, watch func(line string), args ...string) benchResult {
	t.Helper()
	res := benchResult{dir: t.TempDir() + "/report"}
	cmd := exec.Command(c1mtest.Binary(t), append(append([]string{"bench"}, args...), "--out", res.dir)...)
	cmd.Env = c1mtest.Env(env...)
	var stdout bytes.Buffer
	stderr := &lineWriter{watch: watch}
	cmd.Stdout, cmd.Stderr = &stdout, stderr
	// The servers and workers share the orchestrator's stderr: do not
	// wait for them past its exit.
	cmd.WaitDelay = 10 * time.Second
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	timer := time.AfterFunc(limit, func() { _ = cmd.Process.Kill() })
	err := cmd.Wait()
	if !timer.Stop() {
		t.Fatalf("c1m bench %s did not finish in %v\nstderr:\n%s", strings.Join(args, " "), limit, stderr.String())
	}
	res.stdout, res.stderr = stdout.String(), stderr.String()
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		res.code = ee.ExitCode()
	case err != nil && !errors.Is(err, exec.ErrWaitDelay):
		t.Fatalf("c1m bench: %v", err)
	}
	return res
}

// runBenchPorts is runBenchIn with --base-port from bases: a run whose
// server found a port taken ("address already in use": the fixed ports
// lie in the kernel's ephemeral range, where any process's connection may
// hold one for a while) is run again on the next base.
func runBenchPorts(t *testing.T, bases []int, limit time.Duration, env []string, watch func(string), args ...string) benchResult {
	t.Helper()
	var res benchResult
	for _, base := range bases {
		res = runBenchIn(t, limit, env, watch, append(args, "--base-port", strconv.Itoa(base))...)
		if !strings.Contains(res.stderr, "address already in use") {
			return res
		}
		t.Logf("a port from %d was taken; trying another base:\n%s", base, res.stderr)
	}
	return res
}

// lineWriter keeps what is written and shows each complete line to watch.
// Written by one goroutine (exec's copier); String is safe from any.
type lineWriter struct {
	mu    sync.Mutex
	buf   bytes.Buffer
	part  []byte
	watch func(string)
}

func (w *lineWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	w.buf.Write(p)
	w.mu.Unlock()
	w.part = append(w.part, p...)
	for {
		i := bytes.IndexByte(w.part, '\n')
		if i < 0 {
			break
		}
		if w.watch != nil {
			w.watch(string(w.part[:i]))
		}
		w.part = w.part[i+1:]
	}
	return len(p), nil
}

func (w *lineWriter) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.String()
}

// execNetns is `ip netns exec <n> c1m bench agent args...`, without any
// C1M_* variable in its environment.
func execNetns(t *testing.T, n agentNetns, args ...string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command("ip", append([]string{"netns", "exec", n.name, c1mtest.Binary(t), "bench", "agent"}, args...)...)
	cmd.Env = c1mtest.Env()
	return cmd
}
