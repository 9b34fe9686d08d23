package cluster

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"

	"c1m/broadcast"
)

// request is a publish ('a') or a history request ('h') on its way to
// NATS or waiting for its answer on the reply inbox.
type request struct {
	kind     byte
	subject  string
	data     []byte
	done     func(seq uint64, err error) // publish
	hist     *historyCall                // history
	deadline time.Time
}

// PublishFunc receives the outcome of a Publish.
type PublishFunc func(seq uint64, err error)

// Publish sends data from `from` to t through the stream, which gives
// it its Seq and republishes it to every node with interest in t (this
// one included, if it has interest: the local fan-out happens on
// delivery, in the same order as on every other node).
//
// Publish never blocks. It returns an error at once when the message
// cannot be sent: ErrNotConnected (NATS unreachable: the backplane
// refuses rather than buffers), ErrBusy (Config.MaxInflight publishes
// are already waiting), ErrTooLarge, ErrBadName, ErrBadTarget or
// ErrClosed; done is then not called. Otherwise done, if not nil, is
// called exactly once, on a Cluster goroutine, with the message's Seq
// or an error (ErrStream, ErrTimeout, ErrNotConnected when the
// connection dropped before the acknowledgement, ErrClosed); after
// ErrTimeout or ErrNotConnected the message may still have been stored.
// done must not block. data is copied before Publish returns.
func (c *Cluster) Publish(t broadcast.Target, from string, data []byte, done PublishFunc) error {
	switch {
	case len(from) > MaxFromLen:
		return ErrBadName
	case len(data) > c.cfg.MaxMessageSize:
		return ErrTooLarge
	}
	subject, err := c.subj.stored(t)
	if err != nil {
		return err
	}
	if !c.connected.Load() {
		c.st.refused.Add(1)
		return ErrNotConnected
	}
	if c.pubN.Add(1) > int64(c.cfg.MaxInflight) {
		c.pubN.Add(-1)
		c.st.refused.Add(1)
		return ErrBusy
	}
	return c.enqueue(&request{kind: 'a', subject: subject, data: encodePayload(from, data), done: done}, &c.pubN)
}

// enqueue hands r to the writer. The queue holds MaxInflight +
// MaxHistoryRequests entries and the counters keep below that, so the
// send never blocks.
func (c *Cluster) enqueue(r *request, n interface{ Add(int64) int64 }) error {
	c.closeMu.RLock()
	defer c.closeMu.RUnlock()
	if c.closed {
		n.Add(-1)
		return ErrClosed
	}
	c.reqs <- r
	return nil
}

// writer is the one goroutine that talks to NATS for the caller:
// publishes, history requests and (un)subscriptions.
func (c *Cluster) writer() {
	defer c.wg.Done()
	var token uint64
	for {
		select {
		case <-c.stop:
			return
		case r := <-c.reqs:
			token++
			c.send(r, token)
		case <-c.kick:
			c.reconcile()
		}
	}
}

// send registers r under token and publishes it with its reply subject.
func (c *Cluster) send(r *request, token uint64) {
	r.deadline = time.Now().Add(c.cfg.RequestTimeout)
	c.pendMu.Lock()
	c.pending[token] = r
	c.pendMu.Unlock()
	reply := make([]byte, 0, len(c.inbox)+16)
	reply = append(reply, c.inbox...)
	reply = append(reply, '.', r.kind, '.')
	reply = strconv.AppendUint(reply, token, 36)
	err := c.nc.PublishMsg(&nats.Msg{Subject: r.subject, Reply: string(reply), Data: r.data})
	if err != nil {
		if r := c.take(token); r != nil {
			c.finish(r, 0, fmt.Errorf("%w: %v", ErrNotConnected, err))
		}
	}
}

// take removes and returns the request of token, nil when it already
// finished (timed out, failed).
func (c *Cluster) take(token uint64) *request {
	c.pendMu.Lock()
	r := c.pending[token]
	delete(c.pending, token)
	c.pendMu.Unlock()
	return r
}

// finish completes a request (it has left c.pending or never entered).
func (c *Cluster) finish(r *request, seq uint64, err error) {
	switch r.kind {
	case 'a':
		c.pubN.Add(-1)
		if err != nil {
			c.st.failed.Add(1)
		} else {
			c.st.published.Add(1)
		}
		if r.done != nil {
			r.done(seq, err)
		}
	case 'h':
		c.histN.Add(-1)
		r.hist.finish(err)
	}
}

// failPending fails the requests awaiting an answer that match pred.
func (c *Cluster) failPending(pred func(*request) bool, err error) {
	var failed []*request
	c.pendMu.Lock()
	for tok, r := range c.pending {
		if pred(r) {
			failed = append(failed, r)
			delete(c.pending, tok)
		}
	}
	c.pendMu.Unlock()
	for _, r := range failed {
		c.finish(r, 0, err)
	}
}

// failQueued fails the requests the writer has not sent (after it
// stopped).
func (c *Cluster) failQueued(err error) {
	for {
		select {
		case r := <-c.reqs:
			c.finish(r, 0, err)
		default:
			return
		}
	}
}

// onReply receives acknowledgements and history answers on the inbox:
// <inbox>.a.<token> and <inbox>.h.<token>.
func (c *Cluster) onReply(m *nats.Msg) {
	rest, ok := strings.CutPrefix(m.Subject, c.inbox)
	if !ok || len(rest) < 4 || rest[0] != '.' || rest[2] != '.' {
		return
	}
	token, err := strconv.ParseUint(rest[3:], 36, 64)
	if err != nil {
		return
	}
	switch rest[1] {
	case 'a':
		r := c.take(token)
		if r == nil {
			return // timed out or failed already
		}
		seq, err := parseAck(m)
		if err != nil {
			c.streamTrouble(err)
		} else if !c.streamOK.Load() {
			c.streamOK.Store(true)
			c.setStream(true, "")
		}
		c.finish(r, seq, err)
	case 'h':
		c.onHistory(token, m)
	}
}

// streamTrouble marks the stream unusable after a refused publish and
// asks the manager to check it again.
func (c *Cluster) streamTrouble(err error) {
	c.streamOK.Store(false)
	c.setStream(false, err.Error())
	select {
	case c.ensureKick <- struct{}{}:
	default:
	}
}

var seqField = []byte(`"seq":`)

// parseAck reads a JetStream publish acknowledgement:
// {"stream":"C1M","seq":42} or {"error":{"code":503,...}}, or a "503 No
// Responders" status when no stream listens on the subject.
func parseAck(m *nats.Msg) (uint64, error) {
	if st := m.Header.Get(hdrStatus); st != "" {
		return 0, fmt.Errorf("%w: no stream answered the publish (status %s %s)", ErrStream, st, m.Header.Get("Description"))
	}
	if bytes.Contains(m.Data, []byte(`"error"`)) {
		var resp struct {
			Error struct {
				Code        int    `json:"code"`
				Description string `json:"description"`
			} `json:"error"`
		}
		if err := json.Unmarshal(m.Data, &resp); err != nil {
			return 0, fmt.Errorf("%w: cannot parse the acknowledgement %q", ErrStream, m.Data)
		}
		return 0, fmt.Errorf("%w: %s (%d)", ErrStream, resp.Error.Description, resp.Error.Code)
	}
	i := bytes.Index(m.Data, seqField)
	if i < 0 {
		return 0, fmt.Errorf("%w: cannot parse the acknowledgement %q", ErrStream, m.Data)
	}
	var seq uint64
	for _, b := range m.Data[i+len(seqField):] {
		if b < '0' || b > '9' {
			break
		}
		seq = seq*10 + uint64(b-'0')
	}
	if seq == 0 {
		return 0, fmt.Errorf("%w: cannot parse the acknowledgement %q", ErrStream, m.Data)
	}
	return seq, nil
}
