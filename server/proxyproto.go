package server

import (
	"bytes"
	"encoding/binary"
	"errors"
	"net/netip"
)

// The PROXY protocol (HAProxy's "proxy-protocol.txt", versions 1 and 2)
// lets a load balancer that relays TCP tell the server who the client is:
// it writes one header at the start of the connection, before any byte
// of the client's. With Config.ProxyProtocol the engine reads it ahead of
// the HTTP upgrade request and takes the client's address from it.

// Errors of parseProxyHeader. They are values, so that refusing a bad
// header allocates nothing; the reason goes to the operator's log.
var (
	// errProxyShort: the bytes so far are a valid beginning of a header;
	// read more.
	errProxyShort     = errors.New("server: PROXY protocol header incomplete")
	errProxySignature = errors.New("server: no PROXY protocol signature at the start of the connection")
	errProxyVersion   = errors.New("server: PROXY protocol v2 header with an unknown version or command")
	errProxyLength    = errors.New("server: PROXY protocol header length out of bounds")
	errProxyFamily    = errors.New("server: PROXY protocol header for an unsupported address family or transport")
	errProxyV1        = errors.New("server: malformed PROXY protocol v1 line")
)

const (
	// proxyV2MaxLen caps a v2 header, its 16 fixed bytes included. The
	// specification's own advice (section 2.2) is a 536-byte buffer: the
	// addresses (at most 216 bytes, for AF_UNIX) leave room for TLVs such
	// as HAProxy's unique id or TLS details, which are skipped.
	proxyV2MaxLen = 536
	// proxyV1MaxLen is the longest v1 line, "\r\n" included (section 2.1:
	// "a receiver must be able to receive at least 107 bytes").
	proxyV1MaxLen = 107
	// proxyMaxLen is the most a header can take in a handshake buffer.
	proxyMaxLen = proxyV2MaxLen
)

// proxyV2Sig is the 12-byte v2 signature (section 2.2). It starts with
// "\r\n\r\n", which no HTTP request can: a server expecting the header
// never mistakes a request for one, nor one for a request.
var proxyV2Sig = []byte("\r\n\r\n\x00\r\nQUIT\n")

var proxyV1Prefix = []byte("PROXY ")

// parseProxyHeader reads a PROXY protocol header (v2 binary or v1 text) at
// the start of b. It returns the header's length n and the client's
// address src. src is the zero AddrPort when the header names no IP
// client: a LOCAL command (the balancer's own connection, a health
// check), an UNSPEC or AF_UNIX family, or v1's UNKNOWN; the connection's
// own peer address stands then. It returns errProxyShort when b is a
// valid beginning of a header and more bytes are needed, and another of
// the errProxy errors when b cannot start one. A pure function over b:
// it keeps nothing and allocates nothing.
func parseProxyHeader(b []byte) (n int, src netip.AddrPort, err error) {
	if len(b) == 0 {
		return 0, src, errProxyShort
	}
	if b[0] == proxyV2Sig[0] {
		return parseProxyV2(b)
	}
	return parseProxyV1(b)
}

// parseProxyV2 reads the binary header (section 2.2):
//
//	12 bytes signature, 1 byte version (high nibble, 2) and command (low:
//	0 LOCAL, 1 PROXY), 1 byte family (high: 0 UNSPEC, 1 INET, 2 INET6,
//	3 UNIX) and transport (low: 0 UNSPEC, 1 STREAM, 2 DGRAM), 2 bytes
//	length of what follows (big-endian), then the addresses and TLVs.
func parseProxyV2(b []byte) (int, netip.AddrPort, error) {
	var zero netip.AddrPort
	if k := min(len(b), len(proxyV2Sig)); !bytes.Equal(b[:k], proxyV2Sig[:k]) {
		return 0, zero, errProxySignature
	}
	if len(b) < 16 {
		return 0, zero, errProxyShort
	}
	verCmd, famProto := b[12], b[13]
	// "The receiver must drop the connection if the version is not 2";
	// commands other than LOCAL and PROXY are unassigned: drop those too.
	if verCmd>>4 != 2 || verCmd&0xf > 1 {
		return 0, zero, errProxyVersion
	}
	n := 16 + int(binary.BigEndian.Uint16(b[14:16]))
	if n > proxyV2MaxLen {
		return 0, zero, errProxyLength
	}
	// The address block must fit in the declared length, whatever the
	// command (a LOCAL header usually carries none).
	var need int
	switch famProto {
	case 0x11: // TCP over IPv4: src, dst, src port, dst port
		need = 12
	case 0x21: // TCP over IPv6
		need = 36
	case 0x00: // UNSPEC: no address
	case 0x31: // AF_UNIX stream: two 108-byte paths, no IP client
		need = 216
	default:
		// UDP (a WebSocket cannot arrive over it), AF_UNIX datagrams, and
		// unassigned values ("must be rejected as invalid by receivers").
		if verCmd&0xf == 1 {
			return 0, zero, errProxyFamily
		}
	}
	if n-16 < need {
		return 0, zero, errProxyLength
	}
	if len(b) < n {
		return 0, zero, errProxyShort
	}
	// LOCAL: "the receiver must accept this connection as valid and must
	// use the real connection endpoints and discard the protocol block
	// including the family".
	if verCmd&0xf == 0 {
		return n, zero, nil
	}
	a := b[16:]
	switch famProto {
	case 0x11:
		ip := netip.AddrFrom4([4]byte(a[0:4]))
		return n, netip.AddrPortFrom(ip, binary.BigEndian.Uint16(a[8:10])), nil
	case 0x21:
		ip := netip.AddrFrom16([16]byte(a[0:16])).Unmap()
		return n, netip.AddrPortFrom(ip, binary.BigEndian.Uint16(a[32:34])), nil
	}
	return n, zero, nil
}

// parseProxyV1 reads the text header (section 2.1), one line of at most
// 107 bytes:
//
//	PROXY TCP4 192.0.2.1 198.51.100.7 56324 443\r\n
//	PROXY TCP6 2001:db8::1 2001:db8::2 56324 443\r\n
//	PROXY UNKNOWN[ anything]\r\n
func parseProxyV1(b []byte) (int, netip.AddrPort, error) {
	var zero netip.AddrPort
	if k := min(len(b), len(proxyV1Prefix)); !bytes.Equal(b[:k], proxyV1Prefix[:k]) {
		return 0, zero, errProxySignature
	}
	end := bytes.Index(b[:min(len(b), proxyV1MaxLen)], []byte("\r\n"))
	if end < 0 {
		if len(b) >= proxyV1MaxLen {
			return 0, zero, errProxyLength
		}
		return 0, zero, errProxyShort
	}
	n := end + 2
	line := b[len(proxyV1Prefix):end]
	proto, line := cutSpace(line)
	if string(proto) == "UNKNOWN" {
		// "the receiver must ignore anything presented before the CRLF".
		return n, zero, nil
	}
	srcText, line := cutSpace(line)
	dstText, line := cutSpace(line)
	srcPort, line := cutSpace(line)
	dstPort, line := cutSpace(line)
	if len(line) != 0 || len(dstText) == 0 || len(dstPort) == 0 {
		return 0, zero, errProxyV1
	}
	// The destination is checked, not kept: it is this server.
	var src netip.Addr
	var sok, dok bool
	switch string(proto) {
	case "TCP4":
		src, sok = parseV4(srcText)
		_, dok = parseV4(dstText)
	case "TCP6":
		src, sok = parseV6(srcText)
		_, dok = parseV6(dstText)
	default:
		return 0, zero, errProxyFamily
	}
	port, pok := parsePort(srcPort)
	if _, dpok := parsePort(dstPort); !sok || !dok || !pok || !dpok {
		return 0, zero, errProxyV1
	}
	return n, netip.AddrPortFrom(src.Unmap(), port), nil
}

// cutSpace splits b at its first space (exactly one, as the format
// requires).
func cutSpace(b []byte) (field, rest []byte) {
	if i := bytes.IndexByte(b, ' '); i >= 0 {
		return b[:i], b[i+1:]
	}
	return b, nil
}

// parsePort reads a decimal port, 0-65535, without leading zeros.
func parsePort(b []byte) (uint16, bool) {
	if len(b) == 0 || len(b) > 5 || (b[0] == '0' && len(b) > 1) {
		return 0, false
	}
	v := 0
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		v = v*10 + int(c-'0')
	}
	return uint16(v), v <= 0xffff
}

// parseV4 reads a dotted-quad IPv4 address (no leading zeros, as in
// netip.ParseAddr) without converting b to a string.
func parseV4(b []byte) (netip.Addr, bool) {
	var ip [4]byte
	for i := range ip {
		var f []byte
		if i < 3 {
			j := bytes.IndexByte(b, '.')
			if j < 0 {
				return netip.Addr{}, false
			}
			f, b = b[:j], b[j+1:]
		} else {
			f = b
		}
		if len(f) == 0 || len(f) > 3 || (f[0] == '0' && len(f) > 1) {
			return netip.Addr{}, false
		}
		v := 0
		for _, c := range f {
			if c < '0' || c > '9' {
				return netip.Addr{}, false
			}
			v = v*10 + int(c-'0')
		}
		if v > 255 {
			return netip.Addr{}, false
		}
		ip[i] = byte(v)
	}
	return netip.AddrFrom4(ip), true
}

// parseV6 reads an IPv6 address in text (RFC 4291 section 2.2: groups of
// up to four hex digits, one "::", an optional trailing dotted quad; no
// zone) without converting b to a string.
func parseV6(b []byte) (netip.Addr, bool) {
	var ip [16]byte
	gap := -1 // where "::" stands, in bytes of ip
	i := 0
	if len(b) >= 2 && b[0] == ':' && b[1] == ':' {
		gap = 0
		b = b[2:]
	}
	for len(b) > 0 {
		if i == 16 {
			return netip.Addr{}, false
		}
		// A trailing IPv4 part.
		if j := bytes.IndexByte(b, ':'); j < 0 && bytes.IndexByte(b, '.') >= 0 {
			v4, ok := parseV4(b)
			if !ok || i > 12 {
				return netip.Addr{}, false
			}
			a := v4.As4()
			copy(ip[i:], a[:])
			i += 4
			b = nil
			break
		}
		v, k := 0, 0
		for k < len(b) && k < 5 {
			d, ok := hexDigit(b[k])
			if !ok {
				break
			}
			v = v<<4 | d
			k++
		}
		if k == 0 || k > 4 {
			return netip.Addr{}, false
		}
		ip[i], ip[i+1] = byte(v>>8), byte(v)
		i += 2
		b = b[k:]
		if len(b) == 0 {
			break
		}
		if b[0] != ':' || len(b) == 1 {
			return netip.Addr{}, false
		}
		b = b[1:]
		if b[0] == ':' {
			if gap >= 0 {
				return netip.Addr{}, false
			}
			gap = i
			b = b[1:]
		}
	}
	switch {
	case gap < 0 && i != 16:
		return netip.Addr{}, false
	case gap >= 0:
		if i == 16 {
			return netip.Addr{}, false // "::" must stand for at least one group
		}
		// Move what followed "::" to the end.
		tail := i - gap
		copy(ip[16-tail:], ip[gap:i])
		clear(ip[gap : 16-tail])
	}
	return netip.AddrFrom16(ip), true
}

func hexDigit(c byte) (int, bool) {
	switch {
	case c >= '0' && c <= '9':
		return int(c - '0'), true
	case c >= 'a' && c <= 'f':
		return int(c-'a') + 10, true
	case c >= 'A' && c <= 'F':
		return int(c-'A') + 10, true
	}
	return 0, false
}
