package wsproto

import "sync"

// Message buffers hold the payload of a data frame split across reads and
// of fragmented messages. They come from fixed size classes, each with its
// own sync.Pool of *[]byte whose capacity is exactly the class size, so a
// pool never holds a slice of the wrong size and Put does not allocate (the
// pointer, not a slice header, is what goes into the interface).
//
// A Reader grows its buffer as payload bytes arrive, never by the length a
// frame header declares: a peer that announces a large frame and sends
// nothing costs nothing.
const (
	minBufClass  = 4 << 10 // smallest class: 4 KiB
	numBufClass  = 8       // 4K, 16K, 64K, 256K, 1M, 4M, 16M, 64M: the pooled classes,
	bufClassStep = 2       // each 4 times (1<<2) the one before
)

var bufPools [numBufClass]sync.Pool

// bufClass returns the index of the smallest class holding n bytes, or -1
// when n is over the largest class.
func bufClass(n int) int {
	size := minBufClass
	for i := 0; i < numBufClass; i++ {
		if n <= size {
			return i
		}
		size <<= bufClassStep
	}
	return -1
}

// classSize returns the capacity of class i.
func classSize(i int) int {
	return minBufClass << (bufClassStep * i)
}

// getBuf returns an empty buffer with capacity for at least n bytes. The
// caller owns it until putBuf.
func getBuf(n int) *[]byte {
	i := bufClass(n)
	if i < 0 {
		// Over the largest class (only with Config.MaxMessage over 64
		// MiB): an unpooled buffer, exactly as big as the bytes that
		// have arrived.
		b := make([]byte, 0, n)
		return &b
	}
	if v := bufPools[i].Get(); v != nil {
		return v.(*[]byte)
	}
	b := make([]byte, 0, classSize(i))
	return &b
}

// putBuf returns bp to its class pool; bp must not be used afterwards.
// Buffers whose capacity is not a class size are left to the GC.
func putBuf(bp *[]byte) {
	c := cap(*bp)
	i := bufClass(c)
	if i < 0 || classSize(i) != c {
		return
	}
	*bp = (*bp)[:0]
	bufPools[i].Put(bp)
}

// growBuf returns a buffer holding the bytes of bp (which may be nil)
// followed by p, moving to a bigger class when needed.
func growBuf(bp *[]byte, p []byte) *[]byte {
	if bp == nil {
		bp = getBuf(len(p))
	} else if n := len(*bp) + len(p); n > cap(*bp) {
		if i := bufClass(n); i < 0 {
			// Unpooled: at least double, so growth stays amortised.
			n = max(n, 2*cap(*bp))
		}
		nb := getBuf(n)
		*nb = append(*nb, *bp...)
		putBuf(bp)
		bp = nb
	}
	*bp = append(*bp, p...)
	return bp
}
