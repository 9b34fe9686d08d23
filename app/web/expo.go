package web

import (
	"errors"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
)

// errExposition is wrapped by parseExposition for a line it cannot read.
var errExposition = errors.New("web: bad metrics line")

// exposition is one node's Prometheus text exposition, parsed: metric
// family name → its series (labels as written, value). It is built once per
// scrape and only read afterwards.
type exposition map[string][]series

// series is one sample line: its label set exactly as written between the
// braces ("" for none) and its value.
type series struct {
	labels string
	value  float64
}

// parseExposition reads Prometheus text format 0.0.4: `name{labels} value
// [timestamp]` lines, comments and blank lines skipped. Label values may hold
// spaces, braces and escaped quotes. On a line it cannot read it returns an
// error naming it.
func parseExposition(text string) (exposition, error) {
	out := exposition{}
	for len(text) > 0 {
		var line string
		if i := strings.IndexByte(text, '\n'); i >= 0 {
			line, text = text[:i], text[i+1:]
		} else {
			line, text = text, ""
		}
		line = strings.TrimSpace(line)
		if line == "" || line[0] == '#' {
			continue
		}
		name, labels, rest, ok := splitSeries(line)
		if !ok {
			return out, fmt.Errorf("%w: %q", errExposition, line)
		}
		val, _, _ := strings.Cut(strings.TrimSpace(rest), " ")
		v, err := strconv.ParseFloat(val, 64)
		if err != nil {
			return out, fmt.Errorf("%w: %q: %w", errExposition, line, err)
		}
		out[name] = append(out[name], series{labels: labels, value: v})
	}
	return out, nil
}

// splitSeries splits a sample line into the metric name, the text between
// the label braces and what follows them.
func splitSeries(line string) (name, labels, rest string, ok bool) {
	i := strings.IndexAny(line, "{ \t")
	if i <= 0 {
		return "", "", "", false
	}
	name = line[:i]
	if line[i] != '{' {
		return name, "", line[i:], true
	}
	inQuote := false
	for j := i + 1; j < len(line); j++ {
		switch c := line[j]; {
		case inQuote && c == '\\':
			j++
		case c == '"':
			inQuote = !inQuote
		case !inQuote && c == '}':
			return name, line[i+1 : j], line[j+1:], true
		}
	}
	return "", "", "", false
}

// sum adds up every series of a family (all label sets); 0 when absent.
func (e exposition) sum(name string) float64 {
	var t float64
	for _, s := range e[name] {
		t += s.value
	}
	return t
}

// merge adds up the series of several nodes' expositions label set by
// label set, so that a cluster's totals come out of the same arithmetic as
// one node's figures.
func merge(es []exposition) exposition {
	if len(es) == 1 {
		return es[0]
	}
	out := exposition{}
	for _, e := range es {
		for name, ss := range e {
		next:
			for _, s := range ss {
				for k := range out[name] {
					if out[name][k].labels == s.labels {
						out[name][k].value += s.value
						continue next
					}
				}
				out[name] = append(out[name], s)
			}
		}
	}
	return out
}

// bucket is one cumulative histogram bucket: observations ≤ le.
type bucket struct {
	le    float64
	count float64
}

// buckets returns the cumulative buckets of histogram family name (read
// from name_bucket{le="…"}), summed over any other labels and sorted by le;
// nil when absent.
func (e exposition) buckets(name string) []bucket {
	by := map[float64]float64{}
	for _, s := range e[name+"_bucket"] {
		le, ok := labelValue(s.labels, "le")
		if !ok {
			continue
		}
		f, err := strconv.ParseFloat(le, 64)
		if err != nil {
			continue
		}
		by[f] += s.value
	}
	if len(by) == 0 {
		return nil
	}
	out := make([]bucket, 0, len(by))
	for le, c := range by {
		out = append(out, bucket{le: le, count: c})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].le < out[j].le })
	return out
}

// labelValue finds key="value" in a label set as written (escapes left as
// they are: le values have none).
func labelValue(labels, key string) (string, bool) {
	for labels != "" {
		eq := strings.IndexByte(labels, '=')
		if eq < 0 || eq+1 >= len(labels) || labels[eq+1] != '"' {
			return "", false
		}
		k := strings.TrimSpace(strings.TrimPrefix(labels[:eq], ","))
		j := eq + 2
		for j < len(labels) && labels[j] != '"' {
			if labels[j] == '\\' {
				j++
			}
			j++
		}
		if j >= len(labels) {
			return "", false
		}
		if k == key {
			return labels[eq+2 : j], true
		}
		labels = strings.TrimLeft(labels[j+1:], ", ")
	}
	return "", false
}

// increase returns the per-bucket increase from prev to cur, treating a
// bucket that went down as a counter reset (its whole current count is new),
// the way Prometheus's increase() does.
func increase(prev, cur []bucket) []bucket {
	out := make([]bucket, len(cur))
	for i, b := range cur {
		out[i] = b
		for _, p := range prev {
			if p.le == b.le {
				if p.count <= b.count {
					out[i].count = b.count - p.count
				}
				break
			}
		}
	}
	return out
}

// quantile estimates the q-quantile (0 < q < 1) from cumulative buckets the
// way Prometheus's histogram_quantile does: find the bucket holding rank
// q × total and interpolate linearly inside it, the lowest bucket starting
// at 0. A rank in the +Inf bucket answers the highest finite bound. It
// returns NaN when there are no observations.
func quantile(q float64, bs []bucket) float64 {
	if len(bs) == 0 {
		return math.NaN()
	}
	total := bs[len(bs)-1].count
	if !math.IsInf(bs[len(bs)-1].le, 1) || total <= 0 {
		return math.NaN()
	}
	rank := q * total
	lower, below := 0.0, 0.0
	for i, b := range bs {
		if b.count >= rank && b.count > below {
			if math.IsInf(b.le, 1) {
				if i == 0 {
					return math.NaN()
				}
				return bs[i-1].le
			}
			return lower + (b.le-lower)*(rank-below)/(b.count-below)
		}
		lower, below = b.le, b.count
	}
	return bs[len(bs)-2].le
}
