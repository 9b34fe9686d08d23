package cluster

import (
	"crypto/sha256"
	"encoding/base32"

	"c1m/broadcast"
)

// Subjects. Every subject starts with Config.Prefix ("c1m"):
//
//	<prefix>.s.r.<token>   a room's messages as published and stored (the stream's subjects)
//	<prefix>.s.u.<token>   a user's direct messages, stored
//	<prefix>.s.a           "everyone", stored
//	<prefix>.l.r.<token>   the same messages republished by the stream, live (core subscriptions)
//	<prefix>.l.u.<token>
//	<prefix>.l.a
//	<prefix>.p             presence: heartbeats, changes and snapshots of every node
//	<prefix>.p.sync        presence: a node asking the others for a snapshot
//
// A room or user name becomes one subject token (see appendToken), so
// no name can reach another name's subject or form a wildcard.

// MaxTokenLen bounds the token a name becomes, so that subjects stay
// short whatever the configured name length: longer encodings are
// replaced by a hash.
const MaxTokenLen = 64

// tokenEscape starts an escaped byte; tokenHashed starts a hashed name.
// A literal encoding never contains "~~" ('~' is always followed by two
// hex digits), so the two forms cannot collide.
const (
	tokenEscape = '~'
	tokenHashed = "~~"
)

var hashEncoding = base32.NewEncoding("0123456789abcdefghijklmnopqrstuv").WithPadding(base32.NoPadding)

// appendToken appends name as one NATS subject token. Bytes in
// [A-Za-z0-9_-] are kept as they are (so "lobby" is readable in `nats
// sub` and in monitoring); every other byte, '~' included, becomes '~'
// and two lower-case hex digits. The result uses only [A-Za-z0-9_~-]:
// never '.', '*', '>', white space or non-ASCII, so it is one literal
// token for any input. The mapping is one-to-one while the encoding
// fits in MaxTokenLen bytes; a longer name becomes "~~" and the
// unpadded base32 of its SHA-256 (54 bytes), which keeps subjects
// bounded at the price of a collision probability of 2^-128 or less.
func appendToken(b []byte, name string) []byte {
	n := 0
	for i := 0; i < len(name); i++ {
		if plainTokenByte(name[i]) {
			n++
		} else {
			n += 3
		}
	}
	if n > MaxTokenLen {
		sum := sha256.Sum256([]byte(name))
		b = append(b, tokenHashed...)
		return hashEncoding.AppendEncode(b, sum[:])
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if plainTokenByte(c) {
			b = append(b, c)
			continue
		}
		b = append(b, tokenEscape, hexDigits[c>>4], hexDigits[c&0xf])
	}
	return b
}

const hexDigits = "0123456789abcdef"

func plainTokenByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-'
}

// subjects builds the subjects of one c1m deployment.
type subjects struct {
	prefix string // validated by Config.Validate
}

// kindLetter is the subject token of a target kind.
func kindLetter(k broadcast.Kind) byte {
	switch k {
	case broadcast.KindRoom:
		return 'r'
	case broadcast.KindUser:
		return 'u'
	}
	return 'a'
}

// target returns the stored ('s') or live ('l') subject of t, or
// ErrBadTarget / ErrBadName.
func (s subjects) target(space byte, t broadcast.Target) (string, error) {
	switch t.Kind {
	case broadcast.KindAll:
		b := make([]byte, 0, len(s.prefix)+4)
		b = append(b, s.prefix...)
		b = append(b, '.', space, '.', 'a')
		return string(b), nil
	case broadcast.KindRoom, broadcast.KindUser:
		if t.Name == "" {
			return "", ErrBadName
		}
		b := make([]byte, 0, len(s.prefix)+6+min(3*len(t.Name), 2*MaxTokenLen))
		b = append(b, s.prefix...)
		b = append(b, '.', space, '.', kindLetter(t.Kind), '.')
		b = appendToken(b, t.Name)
		return string(b), nil
	}
	return "", ErrBadTarget
}

// stored is the subject a publish goes to (a subject of the stream).
func (s subjects) stored(t broadcast.Target) (string, error) { return s.target('s', t) }

// live is the subject the stream republishes t's messages on.
func (s subjects) live(t broadcast.Target) (string, error) { return s.target('l', t) }

// storedAll is the stream's subject filter: every stored subject.
func (s subjects) storedAll() string { return s.prefix + ".s.>" }

// liveAll is the republish destination matching storedAll.
func (s subjects) liveAll() string { return s.prefix + ".l.>" }

func (s subjects) presence() string     { return s.prefix + ".p" }
func (s subjects) presenceSync() string { return s.prefix + ".p.sync" }
