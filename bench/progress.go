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

// statusPrinter shows what the run is doing after the ramp (the hold, the
// scenarios): a redrawn line on a terminal, a plain line at most every
// 2 s otherwise. done ends a redrawn line before other output.
type statusPrinter struct {
	w        io.Writer
	terminal bool
	last     time.Time
	drawn    bool // a redrawn line is on the screen
}

func newStatusPrinter(w io.Writer, terminal bool) *statusPrinter {
	return &statusPrinter{w: w, terminal: terminal}
}

// update shows a status line; it is dropped when the last one was shown
// under 100 ms ago (2 s on a non-terminal).
func (p *statusPrinter) update(format string, args ...any) {
	if p.w == nil {
		return
	}
	if since := time.Since(p.last); since < 100*time.Millisecond || !p.terminal && since < 2*time.Second {
		return
	}
	p.last = time.Now()
	line := fmt.Sprintf(format, args...)
	if p.terminal {
		fmt.Fprintf(p.w, "\r\033[K%s", line)
		p.drawn = true
		return
	}
	fmt.Fprintln(p.w, line)
}

// done ends the redrawn line, if any, and lets the next update print at
// once.
func (p *statusPrinter) done() {
	if p.w != nil && p.drawn {
		fmt.Fprintln(p.w)
	}
	p.drawn = false
	p.last = time.Time{}
}
