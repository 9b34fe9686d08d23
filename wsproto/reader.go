package wsproto

import "encoding/binary"

// DefaultMaxMessage is the message size limit when Config.MaxMessage is 0.
const DefaultMaxMessage = 64 << 10

// Config configures Readers. It is owned by the caller and shared read-only
// by any number of Readers (on any goroutines) once they are in use. A nil
// *Config is the zero Config.
type Config struct {
	// MaxMessage is the largest reassembled message payload, in bytes;
	// 0 means DefaultMaxMessage. A bigger message fails the connection
	// with 1009 as soon as a frame header announces it.
	MaxMessage int

	// Client is true when the Reader runs on the client side: frames from
	// the peer must then be unmasked. When false (server side) frames must
	// be masked. Either violation fails the connection with 1002.
	Client bool
}

func (c *Config) maxMessage() int {
	if c.MaxMessage <= 0 {
		return DefaultMaxMessage
	}
	return c.MaxMessage
}

var defaultConfig Config

// Sink receives what a Reader parses, on the goroutine that calls Feed.
//
// Every slice argument is valid only until the method returns: it points
// into the caller's read buffer or into a pooled buffer the Reader reuses.
// Copy what must be kept. A non-nil error stops Feed, which returns it
// unchanged.
type Sink interface {
	// OnMessage receives a complete data message: op is OpText or
	// OpBinary, fragments are reassembled, and text is valid UTF-8.
	OnMessage(op OpCode, payload []byte) error
	// OnPing receives the payload of a ping (at most 125 bytes).
	OnPing(payload []byte) error
	// OnPong receives the payload of a pong (at most 125 bytes).
	OnPong(payload []byte) error
	// OnClose receives a valid close frame: code is CloseNoStatus when the
	// payload was empty, reason is valid UTF-8 (possibly empty).
	OnClose(code StatusCode, reason []byte) error
}

// Reader is the incremental frame parser of one connection. It accepts the
// byte stream split in any way across Feed calls, and keeps only the bytes
// of an unfinished frame or message: a partial header in hdr, a partial
// control payload in ctl, data payload in a pooled message buffer that goes
// back to its pool as soon as the message is delivered.
//
// The zero value is ready to use. A Reader is owned by one goroutine (the
// event loop of its connection). After Feed returns an error the Reader's
// state is undefined: fail the connection and Reset the Reader.
type Reader struct {
	buf *[]byte // data payload held for the current message, nil when none

	remain uint64 // payload bytes of the current frame still to come

	hdr [MaxHeaderSize]byte     // partial frame header
	ctl [maxControlPayload]byte // partial control frame payload
	key [4]byte                 // masking key of the current frame

	hdrLen  uint8  // bytes in hdr
	ctlLen  uint8  // bytes in ctl
	maskPos uint8  // key offset of the next payload byte
	op      OpCode // opcode of the current frame
	msgOp   OpCode // OpText or OpBinary while a message is open, else 0
	fin     bool   // FIN bit of the current frame
	masked  bool   // the current frame carries a masking key
	inFrame bool   // a frame header is parsed and its payload not complete
	utf8    UTF8   // validator of the current text message
}

// Idle reports whether r holds no partial header, frame or message: the
// owner may then drop it (return it to a pool) and start again from a zero
// Reader.
func (r *Reader) Idle() bool {
	return !r.inFrame && r.hdrLen == 0 && r.msgOp == 0
}

// Reset releases the message buffer to its pool and zeroes r.
func (r *Reader) Reset() {
	if r.buf != nil {
		putBuf(r.buf)
	}
	*r = Reader{}
}

// held returns the number of payload bytes held for the current message.
func (r *Reader) held() int {
	if r.buf == nil {
		return 0
	}
	return len(*r.buf)
}

// Feed parses p, the next bytes of the connection, calling s for every
// complete message and control frame. It consumes all of p unless it
// returns an error; the bytes of an unfinished frame are kept in r. Feed
// unmasks payload in place, so p is modified; r keeps no reference to p
// after Feed returns.
//
// A complete unfragmented frame lying wholly inside p is handed to s as a
// sub-slice of p, without a copy or an allocation.
//
// A *CloseError means the connection must be failed with its code; any other
// error is one returned by s.
func (r *Reader) Feed(p []byte, cfg *Config, s Sink) error {
	if cfg == nil {
		cfg = &defaultConfig
	}
	for len(p) > 0 {
		if !r.inFrame {
			var err error
			if r.hdrLen == 0 && len(p) >= 2 && headerLen(p[0], p[1]) <= len(p) {
				// Fast path: the whole header is in p.
				n := headerLen(p[0], p[1])
				err = r.parseHeader(p[:n], cfg)
				p = p[n:]
			} else {
				p, err = r.fillHeader(p, cfg)
				if err == nil && !r.inFrame {
					// Header still incomplete; p is all in hdr.
					return nil
				}
			}
			if err != nil {
				return err
			}
			if r.remain <= uint64(len(p)) {
				// The whole payload is in p (it may be empty).
				n := int(r.remain)
				payload := p[:n]
				p = p[n:]
				r.inFrame = false
				r.remain = 0
				if err := r.wholeFrame(payload, s); err != nil {
					return err
				}
				continue
			}
		}
		// Part of the payload of the current frame.
		n := len(p)
		if r.remain < uint64(n) {
			n = int(r.remain)
		}
		chunk := p[:n]
		p = p[n:]
		r.remain -= uint64(n)
		if r.masked {
			r.maskPos = uint8(Mask(chunk, r.key, int(r.maskPos)))
		}
		if err := r.partialFrame(chunk, s); err != nil {
			return err
		}
	}
	return nil
}

// fillHeader moves header bytes from p into hdr. When the header is complete
// it parses it (r.inFrame is then true) and empties hdr. It returns what is
// left of p, which is empty when the header is still incomplete.
func (r *Reader) fillHeader(p []byte, cfg *Config) ([]byte, error) {
	for {
		need := 2
		if r.hdrLen >= 2 {
			need = headerLen(r.hdr[0], r.hdr[1])
		}
		if int(r.hdrLen) >= need {
			break
		}
		if len(p) == 0 {
			return p, nil
		}
		n := copy(r.hdr[r.hdrLen:need], p)
		r.hdrLen += uint8(n)
		p = p[n:]
	}
	n := r.hdrLen
	r.hdrLen = 0
	return p, r.parseHeader(r.hdr[:n], cfg)
}

// wholeFrame handles a frame whose payload arrived in one piece (payload may
// be empty).
func (r *Reader) wholeFrame(payload []byte, s Sink) error {
	if r.masked {
		Mask(payload, r.key, 0)
	}
	if r.op.IsControl() {
		return r.control(payload, s)
	}
	if r.fin && r.op != OpContinuation {
		// An unfragmented message: deliver it in place.
		op := r.msgOp
		r.msgOp = 0
		if op == OpText && !ValidUTF8(payload) {
			return ErrInvalidUTF8
		}
		return s.OnMessage(op, payload)
	}
	return r.data(payload, s)
}

// partialFrame handles the next piece of a frame's payload, already
// unmasked; the frame ends when r.remain is 0.
func (r *Reader) partialFrame(chunk []byte, s Sink) error {
	if r.op.IsControl() {
		r.ctlLen += uint8(copy(r.ctl[r.ctlLen:], chunk))
		if r.remain != 0 {
			return nil
		}
		r.inFrame = false
		n := r.ctlLen
		r.ctlLen = 0
		return r.control(r.ctl[:n], s)
	}
	if r.remain == 0 {
		r.inFrame = false
	}
	return r.data(chunk, s)
}

// data appends a piece of message payload to the message buffer, checking
// text as it arrives, and delivers the message when its last byte is in.
func (r *Reader) data(chunk []byte, s Sink) error {
	if r.msgOp == OpText && !r.utf8.Write(chunk) {
		// Fail fast. RFC 6455 §8.1: "When an endpoint is to interpret a
		// byte stream as UTF-8 but finds that the byte stream is not, in
		// fact, a valid UTF-8 stream, that endpoint MUST _Fail the
		// WebSocket Connection_." An invalid byte inside a fragment
		// fails the connection at once, not at the end of the message.
		return ErrInvalidUTF8
	}
	if len(chunk) > 0 {
		r.buf = growBuf(r.buf, chunk)
	}
	if r.inFrame || !r.fin {
		return nil
	}
	op := r.msgOp
	r.msgOp = 0
	if op == OpText && !r.utf8.Done() {
		// The text ends inside a code point.
		return ErrInvalidUTF8
	}
	var payload []byte
	bp := r.buf
	r.buf = nil
	if bp != nil {
		payload = *bp
	}
	err := s.OnMessage(op, payload)
	if bp != nil {
		putBuf(bp)
	}
	return err
}

// control handles a complete, unmasked control frame payload.
func (r *Reader) control(payload []byte, s Sink) error {
	switch r.op {
	case OpPing:
		return s.OnPing(payload)
	case OpPong:
		return s.OnPong(payload)
	}
	// OpClose. RFC 6455 §5.5.1: "If there is a body, the first two bytes
	// of the body MUST be a 2-byte unsigned integer (in network byte
	// order) representing a status code". One byte cannot be that.
	switch len(payload) {
	case 0:
		return s.OnClose(CloseNoStatus, nil)
	case 1:
		return ErrBadClosePayload
	}
	code := StatusCode(binary.BigEndian.Uint16(payload))
	if !ValidCloseCode(code) {
		// RFC 6455 §7.4: status codes outside the ranges of §7.4.1 and
		// §7.4.2 are a protocol error (see ValidCloseCode).
		return ErrInvalidCloseCode
	}
	// RFC 6455 §5.5.1: "Following the 2-byte integer, the body MAY
	// contain UTF-8-encoded data with value /reason/".
	reason := payload[2:]
	if !ValidUTF8(reason) {
		return ErrInvalidUTF8
	}
	return s.OnClose(code, reason)
}
