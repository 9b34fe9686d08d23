//go:build linux

package conformance

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"slices"
	"strings"
	"time"
)

// Results, as Autobahn names them.
const (
	resOK        = "OK"
	resNonStrict = "NON-STRICT"
	resFailed    = "FAILED"
)

// part is a piece of what a case sends.
type part struct {
	data []byte
	// chop writes data in pieces of chop bytes, one write(2) each with
	// TCP_NODELAY (0: one write).
	chop int
	// failFast: by the end of this part the server has what it needs to
	// fail the connection, and the rest of the message has not been sent.
	// The runner waits (at most failFastWait) for the close frame or EOF
	// before sending more; if it comes only after the rest, the result is
	// NON-STRICT ("late").
	failFast bool
}

// wsCase is one conformance case: an entry in the table.
type wsCase struct {
	id   string // Autobahn-style number, "6.4.1"
	desc string
	rfc  string // the RFC 6455 section it checks, "§5.6"
	// parts are sent in order on a fresh connection.
	parts []part
	// echo lists the messages and pongs the server must send back, in
	// order, before its close frame.
	echo []event
	// anyEcho: the server may or may not send the data frames in echo
	// (RFC 6455 leaves the choice); only the close is checked.
	anyEcho bool
	// open: the connection must survive parts. The runner then sends a
	// close frame 1000, and wants 1000 back after the echoes.
	open bool
	// codes are the close codes that make the case OK; lax ones make it
	// NON-STRICT. Set when !open.
	codes, lax []uint16
	// slow cases run only with -conformance.full.
	slow bool
}

// caseResult is a row of the table.
type caseResult struct {
	c      *wsCase
	result string
	code   string // close code received: a number, "none" (EOF without close frame), "-" (nothing)
	note   string
	dur    time.Duration
}

// Bounded waits. They decide nothing for a server that behaves: its answers
// come in milliseconds and the waits end at once. They only bound how long
// a misbehaving server can hold a case.
// They are variables only so that TestJudge can shorten them.
var (
	failFastWait = 5 * time.Second
	closeWait    = 10 * time.Second
)

// Helpers that build parts and expectations.

// send is one part: frames written in one write.
func send(fs ...frame) part { return part{data: wires(fs...)} }

// chopped is one part: frames written in pieces of n bytes.
func chopped(n int, fs ...frame) part { return part{data: wires(fs...), chop: n} }

// failing is one part after which the server must already have failed.
func failing(p part) part { p.failFast = true; return p }

func echoText(s string) event      { return event{kind: opText, payload: []byte(s)} }
func echoBinary(b []byte) event    { return event{kind: opBinary, payload: b} }
func echoPong(s string) event      { return event{kind: opPong, payload: []byte(s)} }
func echoPongB(b []byte) event     { return event{kind: opPong, payload: b} }
func echoTextB(b []byte) event     { return event{kind: opText, payload: b} }
func codesOf(c ...uint16) []uint16 { return c }

// run executes c against addr.
func (c *wsCase) run(addr string) (r caseResult) {
	start := time.Now()
	r = caseResult{c: c, code: "-"}
	defer func() { r.dur = time.Since(start) }()
	cl, err := dial(addr)
	if err != nil {
		r.result, r.note = resFailed, err.Error()
		return r
	}
	defer cl.Close()

	parts := c.parts
	codes, lax := c.codes, c.lax
	if c.open {
		parts = append(slices.Clip(parts), send(closeCode(1000, "")))
		codes, lax = codesOf(1000), nil
	}
	var notes []string
	late := false
	for _, p := range parts {
		if err := cl.write(p.data, p.chop); err != nil {
			// The server may close while a case is still sending (after
			// failing it); what it sent before is judged below.
			break
		}
		if p.failFast {
			ok := cl.waitUntil(failFastWait, func(evs []event, ended bool) bool { return ended || hasClose(evs) })
			if !ok {
				late = true
			}
		}
	}
	// Wait for the close frame and then the end of the stream.
	cl.waitUntil(closeWait, func(evs []event, ended bool) bool { return ended })
	evs, ended := cl.snapshot()
	cl.mu.Lock()
	protErr := cl.protErr
	cl.mu.Unlock()
	if protErr != nil {
		r.result, r.note = resFailed, protErr.Error()
		return r
	}

	// Split the events at the close frame.
	var got []event
	var closeEv *event
	for i := range evs {
		if evs[i].kind == opClose {
			closeEv = &evs[i]
			break
		}
		got = append(got, evs[i])
	}
	if !c.anyEcho && !matchEvents(got, c.echo) {
		r.result = resFailed
		r.note = fmt.Sprintf("got %s, want %s", fmtEvents(got), fmtEvents(c.echo))
		if closeEv != nil {
			r.code = fmt.Sprint(closeCodeOf(closeEv.payload))
		}
		return r
	}
	switch {
	case closeEv != nil:
		code := closeCodeOf(closeEv.payload)
		r.code = fmt.Sprint(code)
		switch {
		case slices.Contains(codes, code):
			r.result = resOK
		case slices.Contains(lax, code):
			r.result = resNonStrict
			notes = append(notes, fmt.Sprintf("close %d; %v is better", code, codes))
		default:
			r.result = resFailed
			notes = append(notes, fmt.Sprintf("close %d, want %v", code, append(slices.Clip(codes), lax...)))
		}
		if !ended && r.result != resFailed {
			// RFC 6455 §7.1.1: "the underlying TCP connection, in most
			// normal cases, SHOULD be closed first by the server".
			r.result = resNonStrict
			notes = append(notes, fmt.Sprintf("TCP not closed %v after the close frame", closeWait))
		}
	case ended:
		r.code = "none"
		if c.open {
			r.result = resFailed
			notes = append(notes, "connection dropped")
		} else {
			// RFC 6455 §7.1.7: the endpoint "SHOULD send a Close frame
			// with an appropriate status code" before dropping it.
			r.result = resNonStrict
			notes = append(notes, "failed without a close frame")
		}
	default:
		r.result = resFailed
		notes = append(notes, fmt.Sprintf("no close frame and no EOF within %v", closeWait))
	}
	if late && r.result != resFailed {
		r.result = resNonStrict
		notes = append(notes, "late: failed only after the whole message, not as the bad bytes arrived")
	}
	r.note = strings.Join(notes, "; ")
	return r
}

func closeCodeOf(p []byte) uint16 {
	if len(p) < 2 {
		return 1005 // RFC 6455 §7.1.5: no status code present
	}
	return binary.BigEndian.Uint16(p)
}

// matchEvents reports whether got is want, except that in a run of
// consecutive pongs in want, the pongs before the run's last may be left
// out: RFC 6455 §5.5.3, "If an endpoint receives a Ping frame and has not
// yet sent Pong frame(s) in response to previous Ping frame(s), the
// endpoint MAY elect to send a Pong frame for only the most recently
// processed Ping frame." The pong for the most recent ping of each run
// must be there, in its place; nothing else may differ.
func matchEvents(got, want []event) bool {
	i := 0
	for j, w := range want {
		optional := w.kind == opPong && j+1 < len(want) && want[j+1].kind == opPong
		if i < len(got) && sameEvent(got[i], w) {
			i++
			continue
		}
		if !optional {
			return false
		}
	}
	return i == len(got)
}

func sameEvent(a, b event) bool { return a.kind == b.kind && bytes.Equal(a.payload, b.payload) }

func fmtEvents(evs []event) string {
	if len(evs) == 0 {
		return "nothing"
	}
	var s []string
	for i, e := range evs {
		if i == 4 {
			s = append(s, fmt.Sprintf("… %d more", len(evs)-4))
			break
		}
		s = append(s, e.String())
	}
	return "[" + strings.Join(s, ", ") + "]"
}
