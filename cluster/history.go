package cluster

import (
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/nats-io/nats.go"

	"c1m/broadcast"
)

// HistoryResult is the answer to a History call.
type HistoryResult struct {
	// Messages are the target's messages after `since`, in order, at
	// most the limit asked for. Each one's Prev is the Seq before it
	// (since for the first, when the history still holds since).
	Messages []Message
	// Gap is true when the stream no longer holds the message since
	// (trimmed by Config.History or HistoryTTL, or never one of the
	// target's, as after a stream reset): messages between since and
	// First may be lost. First is the first Seq after since that the
	// stream still holds for the target, 0 when it holds none.
	Gap   bool
	First uint64
	// More is true when further messages follow the last one returned:
	// call History again with its Seq.
	More bool
}

// HistoryFunc receives the outcome of a History call.
type HistoryFunc func(HistoryResult, error)

// historyCall gathers the answers of one direct get.
type historyCall struct {
	since   uint64
	limit   int
	batch   int    // messages asked for: limit, +1 for since itself
	subject string // the target's stored subject
	done    HistoryFunc

	mu      sync.Mutex // answers come on the inbox goroutine, failures elsewhere
	target  broadcast.Target
	msgs    []Message
	found   bool   // the message `since` itself was in the answer
	pending uint64 // Nats-Num-Pending of the end-of-batch answer
	ended   bool
	got     int // messages received, since itself included
}

// History asks the stream for t's messages after since (0: from the
// oldest it holds), at most limit of them (capped at
// Config.MaxHistoryBatch). It never blocks: done is called exactly once,
// on a Cluster goroutine, unless History returns an error (ErrNoHistory,
// ErrNotConnected, ErrBusy past Config.MaxHistoryRequests, ErrBadName,
// ErrClosed). done must not block.
//
// The answer is read with a JetStream direct get, which any replica of
// the stream may serve: a replica that lags may end the answer a little
// before the newest messages. To resume a reader without a duplicate or
// a hole, take interest in t first, buffer its live messages, call
// History(since), deliver the result, then the buffered live messages
// through a Cursor; when the Cursor reports a hole, call History again
// from its Last.
func (c *Cluster) History(t broadcast.Target, since uint64, limit int, done HistoryFunc) error {
	if c.cfg.History == 0 {
		return ErrNoHistory
	}
	subject, err := c.subj.stored(t)
	if err != nil {
		return err
	}
	limit = max(1, min(limit, c.cfg.MaxHistoryBatch))
	if !c.connected.Load() {
		return ErrNotConnected
	}
	if c.histN.Add(1) > int64(c.cfg.MaxHistoryRequests) {
		c.histN.Add(-1)
		return ErrBusy
	}
	batch := limit + 1 // one more than asked tells whether there is More
	if since > 0 {
		batch++ // the answer starts with since itself, when still held
	}
	call := &historyCall{since: since, limit: limit, batch: batch, subject: subject, done: done, target: t}
	r := &request{kind: 'h', subject: "$JS.API.DIRECT.GET." + c.cfg.Stream, data: call.request(c.cfg, since, batch), hist: call}
	return c.enqueue(r, &c.histN)
}

// request is the body of a direct get of up to batch messages of the
// target from seq on.
func (h *historyCall) request(cfg Config, seq uint64, batch int) []byte {
	maxBytes := min(batch*(cfg.MaxMessageSize+MaxFromLen+256), 8<<20)
	body := make([]byte, 0, 96+len(h.subject))
	body = append(body, `{"seq":`...)
	body = strconv.AppendUint(body, seq, 10)
	body = append(body, `,"next_by_subj":"`...)
	body = append(body, h.subject...) // subject tokens need no JSON escaping
	body = append(body, `","batch":`...)
	body = strconv.AppendInt(body, int64(batch), 10)
	body = append(body, `,"max_bytes":`...)
	body = strconv.AppendInt(body, int64(maxBytes), 10)
	return append(body, '}')
}

// onHistory takes one answer of a direct get: a message, the
// end-of-batch status (204), or a status that ends the answer early
// (404: nothing at or after since; others are errors).
//
// A server older than 2.11 ignores "batch" and answers with one message
// (without Nats-Num-Pending); the call then asks for the next one, on
// the same reply subject, until it has the batch or gets a 404.
func (c *Cluster) onHistory(token uint64, m *nats.Msg) {
	c.pendMu.Lock()
	r := c.pending[token]
	if r != nil {
		r.deadline = time.Now().Add(c.cfg.RequestTimeout)
	}
	c.pendMu.Unlock()
	if r == nil {
		return
	}
	call := r.hist
	var err error
	end := true
	switch st := m.Header.Get(hdrStatus); st {
	case "":
		end = false
		seq := headerUint(m.Header, hdrSequence)
		single := m.Header.Get(hdrNumPending) == ""
		call.mu.Lock()
		call.got++
		if len(call.msgs) == 0 && !call.found && call.since > 0 && seq == call.since {
			call.found = true
		} else if msg, ok := messageFrom(call.target, m); ok {
			call.msgs = append(call.msgs, msg)
		}
		next := call.batch - call.got
		call.mu.Unlock()
		if single {
			if next <= 0 {
				end = true
			} else if err = c.nc.PublishMsg(&nats.Msg{Subject: r.subject, Reply: m.Subject, Data: call.request(c.cfg, seq+1, next)}); err != nil {
				err, end = fmt.Errorf("%w: %v", ErrNotConnected, err), true
			}
		}
	case "204":
		call.mu.Lock()
		call.pending = headerUint(m.Header, hdrNumPending)
		call.mu.Unlock()
	case "404":
	default:
		err = fmt.Errorf("%w: history request refused (status %s %s)", ErrStream, st, m.Header.Get("Description"))
	}
	if end {
		if r := c.take(token); r != nil {
			c.finish(r, 0, err)
		}
	}
}

// finish calls done once with the gathered answer or err.
func (h *historyCall) finish(err error) {
	h.mu.Lock()
	if h.ended {
		h.mu.Unlock()
		return
	}
	h.ended = true
	msgs, found, pending := h.msgs, h.found, h.pending
	h.mu.Unlock()
	if err != nil {
		h.done(HistoryResult{}, err)
		return
	}
	// More is known from the end of a batch; an answer of single
	// messages asks for one more than the limit to know it.
	res := HistoryResult{More: pending > 0}
	if len(msgs) > h.limit {
		msgs, res.More = msgs[:h.limit], true
	}
	var prev uint64
	if found {
		prev = h.since
	}
	for i := range msgs {
		msgs[i].Prev = prev
		prev = msgs[i].Seq
	}
	if h.since > 0 && !found {
		res.Gap = true
		if len(msgs) > 0 {
			res.First = msgs[0].Seq
		}
	}
	res.Messages = msgs
	h.done(res, nil)
}
