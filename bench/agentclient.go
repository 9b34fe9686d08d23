package bench

import (
	"bufio"
	"context"
	"crypto/hmac"
	"errors"
	"fmt"
	"io"
	"net"
	"time"
)

// Bounds on the orchestrator's waits for an agent.
const (
	agentDialTimeout  = 5 * time.Second
	agentReplyTimeout = 30 * time.Second
	// agentSilence is how long a remote worker may send nothing before
	// it is given up for lost: it sends its progress every 250 ms.
	agentSilence = 30 * time.Second
)

// agentClient is the orchestrator's control session with one agent: plan
// and clock samples. Worker sessions are opened beside it (openWorker).
// It is used by the runner's goroutine only.
type agentClient struct {
	addr string
	key  []byte
	conn net.Conn
	r    *bufio.Reader
}

// dialAgent opens and authenticates a session with the agent at addr:
// the agent proves it holds key as the orchestrator does. Each failure is
// one sentence naming the agent.
func dialAgent(ctx context.Context, addr string, key []byte) (net.Conn, *bufio.Reader, sessionKeys, error) {
	d := net.Dialer{Timeout: agentDialTimeout}
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, nil, sessionKeys{}, fmt.Errorf("cannot reach agent %s: %w", addr, err)
	}
	conn, r, keys, err := authAgent(c, addr, key)
	if err != nil {
		c.Close()
		return nil, nil, sessionKeys{}, err
	}
	return conn, r, keys, nil
}

func authAgent(c net.Conn, addr string, key []byte) (net.Conn, *bufio.Reader, sessionKeys, error) {
	_ = c.SetDeadline(time.Now().Add(agentHandshakeTimeout))
	r := bufio.NewReaderSize(c, 64<<10)
	hello, err := readMsg(r)
	switch {
	case err != nil:
		return nil, nil, sessionKeys{}, fmt.Errorf("cannot use agent %s: it sent no greeting (%v); is a c1m bench agent listening there?", addr, err)
	case hello.Type == "error":
		return nil, nil, sessionKeys{}, fmt.Errorf("cannot use agent %s: %s", addr, hello.Error)
	case hello.Type != "hello" || len(hello.Nonce) != agentNonceLen:
		return nil, nil, sessionKeys{}, fmt.Errorf("cannot use agent %s: it does not speak the agent protocol", addr)
	case hello.Version != agentVersion:
		return nil, nil, sessionKeys{}, fmt.Errorf("cannot use agent %s: it speaks agent protocol %d and this orchestrator %d; run the same c1m on both", addr, hello.Version, agentVersion)
	}
	nonce, err := agentNonce()
	if err != nil {
		return nil, nil, sessionKeys{}, err
	}
	if err := writeMsg(c, agentMsg{Op: "auth", MAC: agentMAC(key, "c1m-agent-auth", hello.Nonce), Nonce: nonce}); err != nil {
		return nil, nil, sessionKeys{}, fmt.Errorf("cannot authenticate to agent %s: %w", addr, err)
	}
	ok, err := readMsg(r)
	switch {
	case err == nil && ok.Type == "error" && ok.Error == errAgentKey.Error():
		return nil, nil, sessionKeys{}, fmt.Errorf("agent %s refused the key: give the one it was started with (--agent-key or %s)", addr, AgentKeyEnv)
	case err == nil && ok.Type == "error":
		return nil, nil, sessionKeys{}, fmt.Errorf("cannot use agent %s: %s", addr, ok.Error)
	case err != nil:
		return nil, nil, sessionKeys{}, fmt.Errorf("cannot authenticate to agent %s: %w", addr, err)
	case ok.Type != "ok" || !hmac.Equal(ok.MAC, agentMAC(key, "c1m-agent-proof", nonce)):
		return nil, nil, sessionKeys{}, fmt.Errorf("cannot use agent %s: it did not prove it holds the key; check the address and the key", addr)
	}
	_ = c.SetDeadline(time.Time{})
	return c, r, sessionKeys{key: key, agentNonce: hello.Nonce, orchNonce: nonce}, nil
}

// connectAgent opens the control session with the agent at addr.
func connectAgent(ctx context.Context, addr string, key []byte) (*agentClient, error) {
	c, r, _, err := dialAgent(ctx, addr, key)
	if err != nil {
		return nil, err
	}
	return &agentClient{addr: addr, key: key, conn: c, r: r}, nil
}

// request sends m on the control session and reads the reply, within
// agentReplyTimeout; an "error" reply becomes an error naming the agent.
func (a *agentClient) request(m agentMsg) (agentMsg, error) {
	_ = a.conn.SetDeadline(time.Now().Add(agentReplyTimeout))
	defer a.conn.SetDeadline(time.Time{})
	if err := writeMsg(a.conn, m); err != nil {
		return agentMsg{}, fmt.Errorf("cannot send %s to agent %s: %w", m.Op, a.addr, err)
	}
	rep, err := readMsg(a.r)
	if err != nil {
		return agentMsg{}, fmt.Errorf("agent %s did not answer %s: %w", a.addr, m.Op, err)
	}
	if rep.Type == "error" {
		return agentMsg{}, fmt.Errorf("cannot use agent %s: %s", a.addr, rep.Error)
	}
	return rep, nil
}

// plan asks the agent about a share of conns against targets.
func (a *agentClient) plan(conns int, targets []string) (*AgentInfo, error) {
	rep, err := a.request(agentMsg{Op: "plan", Plan: &AgentPlan{Conns: conns, Targets: targets}})
	if err != nil {
		return nil, err
	}
	if rep.Type != "plan" || rep.Info == nil || rep.Info.Workers < 1 {
		return nil, fmt.Errorf("cannot use agent %s: it answered the plan with %q", a.addr, rep.Type)
	}
	return rep.Info, nil
}

// clock measures the agent's clock offset (clock.go).
func (a *agentClient) clock(at string) (ClockMeasure, error) {
	samples := make([]clockSample, 0, clockSamples)
	for i := 0; i < clockSamples; i++ {
		t0 := time.Now().UnixNano()
		rep, err := a.request(agentMsg{Op: "time", T0: t0})
		t3 := time.Now().UnixNano()
		if err != nil {
			return ClockMeasure{}, err
		}
		if rep.Type != "time" || rep.T0 != t0 {
			return ClockMeasure{}, fmt.Errorf("agent %s answered a clock sample with %q", a.addr, rep.Type)
		}
		samples = append(samples, clockSample{t0: t0, t1: rep.T1, t2: rep.T2, t3: t3})
	}
	return bestClock(at, samples), nil
}

func (a *agentClient) close() { a.conn.Close() }

// jwtKey is the run's token key as it goes to agents: kind "secret" or
// "pem", and the bytes (nil: no tokens).
type jwtKey struct {
	kind   string
	secret []byte
}

// openWorker opens a worker session: the agent starts a worker of spec
// and relays its stdin and stdout.
func (a *agentClient) openWorker(ctx context.Context, spec WorkerSpec, jwt jwtKey) (*remoteLink, error) {
	c, r, keys, err := dialAgent(ctx, a.addr, a.key)
	if err != nil {
		return nil, err
	}
	fail := func(err error) (*remoteLink, error) {
		c.Close()
		return nil, err
	}
	if jwt.secret != nil {
		if spec.JWT, err = keys.seal(jwt.kind, jwt.secret); err != nil {
			return fail(err)
		}
	}
	_ = c.SetDeadline(time.Now().Add(agentReplyTimeout))
	if err := writeMsg(c, agentMsg{Op: "worker", Worker: &spec}); err != nil {
		return fail(fmt.Errorf("cannot ask agent %s for a worker: %w", a.addr, err))
	}
	rep, err := readMsg(r)
	switch {
	case err != nil:
		return fail(fmt.Errorf("agent %s did not answer the worker request: %w", a.addr, err))
	case rep.Type == "error":
		return fail(fmt.Errorf("agent %s cannot start a worker: %s", a.addr, rep.Error))
	case rep.Type != "started":
		return fail(fmt.Errorf("agent %s answered the worker request with %q", a.addr, rep.Type))
	}
	_ = c.SetDeadline(time.Time{})
	return &remoteLink{conn: c, r: r}, nil
}

// remoteLink is a worker on an agent, over its session.
type remoteLink struct {
	conn net.Conn
	r    *bufio.Reader
}

func (l *remoteLink) send(b []byte) error {
	_ = l.conn.SetWriteDeadline(time.Now().Add(agentReplyTimeout))
	_, err := l.conn.Write(b)
	return err
}

// output reads the worker's lines; a silence of agentSilence ends it.
func (l *remoteLink) output() io.Reader { return &silenceReader{conn: l.conn, r: l.r} }

// stop half-closes the session: the agent stops the worker, which closes
// its connections, and the session ends with its exit line.
func (l *remoteLink) stop() {
	if tc, ok := l.conn.(*net.TCPConn); ok {
		_ = tc.CloseWrite()
		return
	}
	l.conn.Close()
}

func (l *remoteLink) kill() { l.conn.Close() }

// wait reports how the worker ended, from its exit line (nil: the session
// ended without one, readErr saying how if not plain EOF).
func (l *remoteLink) wait(exit *agentMsg, readErr error) error {
	l.conn.Close()
	switch {
	case exit == nil && readErr != nil:
		return fmt.Errorf("the connection to its agent was lost: %w", readErr)
	case exit == nil:
		return errors.New("the connection to its agent was lost")
	case exit.Code != 0 && exit.Error != "":
		return fmt.Errorf("it exited with status %d: %s", exit.Code, exit.Error)
	case exit.Code != 0:
		return fmt.Errorf("it exited with status %d", exit.Code)
	}
	return nil
}

// silenceReader reads the session with a fresh deadline per read.
type silenceReader struct {
	conn net.Conn
	r    *bufio.Reader
}

func (s *silenceReader) Read(p []byte) (int, error) {
	_ = s.conn.SetReadDeadline(time.Now().Add(agentSilence))
	n, err := s.r.Read(p)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		err = fmt.Errorf("its agent sent nothing for %v", agentSilence)
	}
	return n, err
}
