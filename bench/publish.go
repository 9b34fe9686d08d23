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
	urls   []string
	key    string
	client *http.Client
	pad    string
}

func newPublisher(urls []string, key string, size int) *publisher {
	// {"bt":1764115200123456789,"k":123456,"pad":"…"} is size bytes.
	pad := max(size-len(`{"bt":1764115200123456789,"k":123456,"pad":""}`), 0)
	return &publisher{
		urls: urls, key: key, pad: strings.Repeat("x", pad),
		client: &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 4}},
	}
}

// payload is a message whose first field is its send time, for latency.
func (p *publisher) payload(k int) []byte {
	b := []byte(`{"bt":`)
	b = strconv.AppendInt(b, time.Now().UnixNano(), 10)
	b = append(b, `,"k":`...)
	b = strconv.AppendInt(b, int64(k), 10)
	b = append(b, `,"pad":"`...)
	b = append(b, p.pad...)
	return append(b, `"}`...)
}

// toAll publishes message k to everyone on every server at once.
func (p *publisher) toAll(k int) error {
	data := p.payload(k)
	body := append(append([]byte(`{"all":true,"data":`), data...), '}')
	return p.post(p.urls, body)
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
