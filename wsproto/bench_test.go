package wsproto

import (
	"strconv"
	"strings"
	"testing"
)

func BenchmarkReaderFeed(b *testing.B) {
	bench := func(name string, frame []byte, cut int) {
		b.Run(name, func(b *testing.B) {
			var r Reader
			buf := make([]byte, len(frame))
			b.SetBytes(int64(len(frame)))
			b.ReportAllocs()
			for b.Loop() {
				copy(buf, frame)
				if cut > 0 {
					if err := r.Feed(buf[:cut], nil, nopSink{}); err != nil {
						b.Fatal(err)
					}
				}
				if err := r.Feed(buf[cut:], nil, nopSink{}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
	small := mf(true, OpText, "hello, world: a small chat message")
	big := mf(true, OpBinary, strings.Repeat("x", 4096))
	text := mf(true, OpText, strings.Repeat("héllo wörld ", 341))
	bench("small", small, 0)
	bench("4KiB", big, 0)
	bench("4KiB-text", text, 0)
	bench("small-split", small, len(small)/2)
	bench("4KiB-split", big, len(big)/2)
	var batch []byte
	for range 64 {
		batch = append(batch, small...)
	}
	bench("64-small-per-feed", batch, 0)
}

func BenchmarkMask(b *testing.B) {
	for _, n := range []int{16, 125, 4096, 65536} {
		b.Run(itoaSize(n), func(b *testing.B) {
			p := make([]byte, n)
			b.SetBytes(int64(n))
			b.ReportAllocs()
			for b.Loop() {
				Mask(p, testKey, 1)
			}
		})
	}
}

func itoaSize(n int) string {
	if n >= 1024 && n%1024 == 0 {
		return strconv.Itoa(n/1024) + "KiB"
	}
	return strconv.Itoa(n) + "B"
}

func BenchmarkUTF8(b *testing.B) {
	for _, tc := range []struct{ name, s string }{
		{"ascii-4KiB", strings.Repeat("abcdefgh", 512)},
		{"mixed-4KiB", strings.Repeat("héllo wörld €😀", 4096/21)},
	} {
		b.Run(tc.name, func(b *testing.B) {
			p := []byte(tc.s)
			b.SetBytes(int64(len(p)))
			for b.Loop() {
				if !ValidUTF8(p) {
					b.Fatal("invalid")
				}
			}
		})
	}
}

func BenchmarkUpgrade(b *testing.B) {
	u := &Upgrader{Path: "/ws", OnHeader: func(k, v []byte) error { return nil }}
	req := reqHead("GET /ws?token=abc HTTP/1.1", append(okHeaders, "Origin: https://example.com", "User-Agent: bench")...)
	dst := make([]byte, 0, 512)
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := u.Upgrade(req, dst); err != nil {
			b.Fatal(err)
		}
	}
}
