package bench

import (
	"fmt"
	"io"
	"time"
)

// progressPrinter shows the ramp: a redrawn line on a terminal, a plain
// line every 2 s otherwise (logs, CI).
type progressPrinter struct {
	w        io.Writer
	terminal bool
	last     time.Time
	prevOpen int
	prevT    time.Duration
}

func newProgressPrinter(w io.Writer, terminal bool) *progressPrinter {
	return &progressPrinter{w: w, terminal: terminal}
}

func (p *progressPrinter) print(t Progress, target int, rss int64, el time.Duration) {
	if p.w == nil {
		return
	}
	if !p.terminal && time.Since(p.last) < 2*time.Second {
		return
	}
	rate := 0.0
	if dt := (el - p.prevT).Seconds(); dt > 0 {
		rate = float64(t.Open-p.prevOpen) / dt
	}
	p.prevOpen, p.prevT, p.last = t.Open, el, time.Now()
	const width = 30
	filled := 0
	if target > 0 {
		filled = min(width, t.Open*width/target)
	}
	bar := make([]byte, width)
	for i := range bar {
		bar[i] = '.'
		if i < filled {
			bar[i] = '#'
		}
	}
	line := fmt.Sprintf("[%s] %d/%d open, %.0f/s, %d pending, %d failed, %d retries, server RSS %.0f MiB, %.0fs",
		bar, t.Open, target, rate, t.Pending, t.Failed, t.Retries, float64(rss)/(1<<20), el.Seconds())
	if t.LastErr != "" && !p.terminal {
		line += "; last error: " + t.LastErr
	}
	if p.terminal {
		fmt.Fprintf(p.w, "\r\033[K%s", line)
	} else {
		fmt.Fprintln(p.w, line)
	}
}

func (p *progressPrinter) done() {
	if p.w != nil && p.terminal {
		fmt.Fprintln(p.w)
	}
}
