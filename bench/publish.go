package bench

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// publisher posts to the servers' publish APIs.
type publisher struct {
	urls []string
	// origins, in cluster mode, are the WebSocket ports of the nodes
	// whose APIs urls are, in the same order: each message names the
	// node it was published through ("o"), so that the workers can tell
	// cross-node deliveries. nil in single-node mode.
	origins []int
	key     string
	client  *http.Client
	pad     string
}

func newPublisher(urls []string, key string, size int) *publisher {
	// {"bt":1764115200123456789,"k":123456,"pad":"…"} is size bytes.
	pad := max(size-len(`{"bt":1764115200123456789,"k":123456,"pad":""}`), 0)
	return &publisher{
		urls: urls, key: key, pad: strings.Repeat("x", pad),
		client: &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 4}},
	}
}

// newClusterPublisher is newPublisher for cluster mode: urls[i] is the
// API of the node listening for WebSocket clients on origins[i], and up
// to conns requests may be in flight.
func newClusterPublisher(urls []string, origins []int, key string, size, conns int) *publisher {
	p := newPublisher(urls, key, size)
	p.origins = origins
	// The "o" field takes room too: {"bt":…,"o":65535,"k":…}.
	p.pad = p.pad[:max(len(p.pad)-len(`,"o":65535`), 0)]
	p.client.Transport = &http.Transport{MaxIdleConnsPerHost: conns, MaxConnsPerHost: conns}
	return p
}

// payload is a message whose first field is its send time, for latency.
func (p *publisher) payload(k int) []byte { return p.payloadVia(k, 0) }

// payloadVia is payload for a message published through node i (cluster
// mode): after the send time comes the node's port.
func (p *publisher) payloadVia(k, i int) []byte {
	b := []byte(`{"bt":`)
	b = strconv.AppendInt(b, time.Now().UnixNano(), 10)
	if p.origins != nil {
		b = append(b, `,"o":`...)
		b = strconv.AppendInt(b, int64(p.origins[i]), 10)
	}
	b = append(b, `,"k":`...)
	b = strconv.AppendInt(b, int64(k), 10)
	b = append(b, `,"pad":"`...)
	b = append(b, p.pad...)
	return append(b, `"}`...)
}

// toAll publishes message k to everyone on every server at once; in
// cluster mode once, through the first node.
func (p *publisher) toAll(k int) error {
	data := p.payload(k)
	urls := p.urls
	if p.origins != nil {
		data, urls = p.payloadVia(k, 0), p.urls[:1]
	}
	body := append(append([]byte(`{"all":true,"data":`), data...), '}')
	return p.post(urls, body)
}

// toRoomVia publishes message k to room once, through node i (cluster
// mode).
func (p *publisher) toRoomVia(i int, room string, k int) error {
	data := p.payloadVia(k, i)
	body := []byte(`{"room":"` + room + `","data":`)
	body = append(append(body, data...), '}')
	return p.post(p.urls[i:i+1], body)
}

// toRoom publishes message k to room on every server (the room's members
// are spread over all of them).
func (p *publisher) toRoom(room string, k int) error {
	data := p.payload(k)
	body := []byte(`{"room":"` + room + `","data":`)
	body = append(append(body, data...), '}')
	return p.post(p.urls, body)
}

func (p *publisher) post(urls []string, body []byte) error {
	var wg sync.WaitGroup
	errs := make([]error, len(urls))
	for i, u := range urls {
		wg.Add(1)
		go func() {
			defer wg.Done()
			req, err := http.NewRequest(http.MethodPost, u, bytes.NewReader(body))
			if err != nil {
				errs[i] = err
				return
			}
			req.Header.Set("Content-Type", "application/json")
			if p.key != "" {
				req.Header.Set("Authorization", "Bearer "+p.key)
			}
			resp, err := p.client.Do(req)
			if err != nil {
				errs[i] = fmt.Errorf("cannot publish to %s: %w", u, err)
				return
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			// 404: that server has no member of the room; fine.
			if resp.StatusCode != http.StatusAccepted && resp.StatusCode != http.StatusNotFound {
				errs[i] = fmt.Errorf("cannot publish to %s: %s %s", u, resp.Status, bytes.TrimSpace(b))
			}
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// sendOrigin extracts the benchmark's send time from a delivery: the
// data object starts with {"bt":<Unix ns>, ...}; in cluster mode the
// next field is "o":<port>, the node the message was published through
// (0 when absent).
func sendOrigin(p []byte) (sent int64, origin int, ok bool) {
	i := bytes.Index(p, []byte(`"bt":`))
	if i < 0 {
		return 0, 0, false
	}
	sent, n := leadingInt(p[i+5:])
	if n == 0 {
		return 0, 0, false
	}
	if rest := p[i+5+n:]; bytes.HasPrefix(rest, []byte(`,"o":`)) {
		o, _ := leadingInt(rest[5:])
		origin = int(o)
	}
	return sent, origin, true
}

// leadingInt parses the decimal digits at the start of p and returns the
// value and how many digits there were.
func leadingInt(p []byte) (int64, int) {
	var v int64
	n := 0
	for _, c := range p {
		if c < '0' || c > '9' {
			break
		}
		v = v*10 + int64(c-'0')
		n++
	}
	return v, n
}
