//go:build linux

package conformance

import "fmt"

// framingCases is Autobahn category 1: text and binary messages of every
// length encoding, whole and chopped, and the masking rule.
func framingCases() []*wsCase {
	var cs []*wsCase
	sizes := []int{0, 1, 125, 126, 127, 128, 65535, 65536, 65537, 256 << 10}
	for i, n := range sizes {
		p := repeat(n)
		cs = append(cs, &wsCase{
			id: fmt.Sprintf("1.1.%d", i+1), rfc: "§5.2, §5.6",
			desc:  fmt.Sprintf("text message of %d bytes (%s length)", n, lenName(n)),
			parts: []part{send(fr(opText, p))}, echo: []event{echoTextB(p)}, open: true,
		})
	}
	for _, chop := range []int{1, 997} {
		p := repeat(65535)
		cs = append(cs, &wsCase{
			id: fmt.Sprintf("1.1.%d", len(cs)+1), rfc: "§5.2, §5.6",
			desc:  fmt.Sprintf("text message of 65535 bytes written in chops of %d bytes", chop),
			parts: []part{chopped(chop, fr(opText, p))}, echo: []event{echoTextB(p)}, open: true,
			slow: chop == 1,
		})
	}
	base := len(cs)
	for i, n := range sizes {
		p := binaryPattern(n)
		cs = append(cs, &wsCase{
			id: fmt.Sprintf("1.2.%d", i+1), rfc: "§5.2, §5.6",
			desc:  fmt.Sprintf("binary message of %d bytes (%s length)", n, lenName(n)),
			parts: []part{send(fr(opBinary, p))}, echo: []event{echoBinary(p)}, open: true,
		})
	}
	p := binaryPattern(65535)
	cs = append(cs, &wsCase{
		id: fmt.Sprintf("1.2.%d", len(cs)-base+1), rfc: "§5.2, §5.6",
		desc:  "binary message of 65535 bytes written in chops of 997 bytes",
		parts: []part{chopped(997, fr(opBinary, p))}, echo: []event{echoBinary(p)}, open: true,
	})

	// 1.3: length encodings that are not minimal. RFC 6455 §5.2: "the
	// minimal number of bytes MUST be used to encode the length" binds the
	// sender; c1m accepts the others (docs: wsproto/header.go), so the
	// message is echoed.
	nonMinimal := []struct {
		n   int
		enc int
	}{{0, len16}, {5, len16}, {125, len16}, {5, len64}, {126, len64}, {65535, len64}}
	for i, nm := range nonMinimal {
		f := fr(opText, repeat(nm.n))
		f.lenEnc = nm.enc
		cs = append(cs, &wsCase{
			id: fmt.Sprintf("1.3.%d", i+1), rfc: "§5.2",
			desc:  fmt.Sprintf("text of %d bytes with a %d-bit length (not minimal): accepted", nm.n, nm.enc),
			parts: []part{send(f)}, echo: []event{echoTextB(repeat(nm.n))}, open: true,
		})
	}

	// 1.4: masking. RFC 6455 §5.1: "The server MUST close the connection
	// upon receiving a frame that is not masked. In this case, a server
	// MAY send a Close frame with a status code of 1002".
	unmasked := fr(opText, []byte("Hello"))
	unmasked.noMask = true
	unmaskedPing := fr(opPing, []byte("p"))
	unmaskedPing.noMask = true
	zeroKey := fr(opText, []byte("zero key"))
	zeroKey.key = [4]byte{}
	cs = append(cs,
		&wsCase{id: "1.4.1", rfc: "§5.1", desc: "unmasked text frame: fail 1002",
			parts: []part{send(unmasked)}, codes: codesOf(1002)},
		&wsCase{id: "1.4.2", rfc: "§5.1", desc: "text, then an unmasked ping: echo, then fail 1002",
			parts: []part{send(text("first"), unmaskedPing)}, echo: []event{echoText("first")}, codes: codesOf(1002)},
		&wsCase{id: "1.4.3", rfc: "§5.1", desc: "unmasked frame written byte by byte: fail 1002 before its payload",
			parts: []part{failing(part{data: unmasked.wire()[:2], chop: 1}), {data: unmasked.wire()[2:]}}, codes: codesOf(1002)},
		&wsCase{id: "1.4.4", rfc: "§5.3", desc: "masking key of all zeros (a valid key): echo",
			parts: []part{send(zeroKey)}, echo: []event{echoText("zero key")}, open: true},
	)
	return cs
}

func lenName(n int) string {
	switch {
	case n <= 125:
		return "7-bit"
	case n <= 0xFFFF:
		return "16-bit"
	}
	return "64-bit"
}
