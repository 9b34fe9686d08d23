package bench

import (
	"fmt"
	"html"
	"math"
	"strconv"
	"strings"
)

// series is one line of a chart.
type series struct {
	Name string
	Pts  [][2]float64
}

// chartColors are the lines' colours, in series order.
var chartColors = []string{"#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e"}

// lineChart renders the series as a minimal self-contained SVG line chart
// whose axes start at 0 and carry round ticks (see niceTicks); with more
// than one series it has a legend.
func lineChart(title, xlabel, ylabel string, ss ...series) string {
	const w, h, pad, left = 640.0, 400.0, 60.0, 70.0
	var maxX, maxY float64
	for _, s := range ss {
		for _, p := range s.Pts {
			maxX = max(maxX, p[0])
			maxY = max(maxY, p[1])
		}
	}
	xstep, xtop := niceTicks(maxX, 5)
	ystep, ytop := niceTicks(maxY, 5)
	sx := func(x float64) float64 { return left + x/xtop*(w-left-pad) }
	sy := func(y float64) float64 { return h - pad - y/ytop*(h-2*pad) }
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%.0f" height="%.0f" font-family="sans-serif" font-size="12">`+"\n", w, h)
	fmt.Fprintf(&b, `<rect width="100%%" height="100%%" fill="white"/>`+"\n")
	fmt.Fprintf(&b, `<text x="%.0f" y="24" text-anchor="middle" font-size="15">%s</text>`+"\n", w/2, html.EscapeString(title))
	for i := 0; float64(i)*xstep <= xtop*(1+1e-9); i++ {
		v := float64(i) * xstep
		fmt.Fprintf(&b, `<line x1="%.1f" y1="%.0f" x2="%.1f" y2="%.0f" stroke="#ddd"/>`+"\n", sx(v), pad, sx(v), h-pad)
		fmt.Fprintf(&b, `<text x="%.1f" y="%.0f" text-anchor="middle">%s</text>`+"\n", sx(v), h-pad+16, tickLabel(v, xstep, xtop))
	}
	for i := 0; float64(i)*ystep <= ytop*(1+1e-9); i++ {
		v := float64(i) * ystep
		fmt.Fprintf(&b, `<line x1="%.0f" y1="%.1f" x2="%.0f" y2="%.1f" stroke="#ddd"/>`+"\n", left, sy(v), w-pad, sy(v))
		fmt.Fprintf(&b, `<text x="%.0f" y="%.1f" text-anchor="end">%s</text>`+"\n", left-6, sy(v)+4, tickLabel(v, ystep, ytop))
	}
	fmt.Fprintf(&b, `<line x1="%.0f" y1="%.0f" x2="%.0f" y2="%.0f" stroke="black"/>`+"\n", left, h-pad, w-pad, h-pad)
	fmt.Fprintf(&b, `<line x1="%.0f" y1="%.0f" x2="%.0f" y2="%.0f" stroke="black"/>`+"\n", left, pad, left, h-pad)
	fmt.Fprintf(&b, `<text x="%.0f" y="%.0f" text-anchor="middle">%s</text>`+"\n", (left+w-pad)/2, h-16, html.EscapeString(xlabel))
	fmt.Fprintf(&b, `<text x="16" y="%.0f" text-anchor="middle" transform="rotate(-90 16 %.0f)">%s</text>`+"\n", h/2, h/2, html.EscapeString(ylabel))
	for i, s := range ss {
		color := chartColors[i%len(chartColors)]
		if len(s.Pts) > 0 {
			fmt.Fprintf(&b, `<polyline fill="none" stroke="%s" stroke-width="2" points="`, color)
			for _, p := range s.Pts {
				fmt.Fprintf(&b, "%.1f,%.1f ", sx(p[0]), sy(p[1]))
			}
			b.WriteString("\"/>\n")
		}
		if len(ss) > 1 {
			y := pad + 8 + float64(i)*16
			fmt.Fprintf(&b, `<line x1="%.0f" y1="%.0f" x2="%.0f" y2="%.0f" stroke="%s" stroke-width="3"/>`+"\n", left+12, y, left+32, y, color)
			fmt.Fprintf(&b, `<text x="%.0f" y="%.0f">%s</text>`+"\n", left+38, y+4, html.EscapeString(s.Name))
		}
	}
	b.WriteString("</svg>\n")
	return b.String()
}

// niceTicks picks an axis for values from 0 to maxV: a step of 1, 2 or 5
// × 10^k giving at most n intervals, and the axis end, the first multiple
// of the step at or above maxV. A maxV ≤ 0 (or not finite) gets the axis
// 0 to 1.
func niceTicks(maxV float64, n int) (step, top float64) {
	if !(maxV > 0) || math.IsInf(maxV, 0) {
		maxV = 1
	}
	n = max(n, 1)
	raw := maxV / float64(n)
	mag := math.Pow(10, math.Floor(math.Log10(raw)))
	step = 10 * mag
	for _, m := range []float64{1, 2, 5} {
		if m*mag >= raw*(1-1e-9) {
			step = m * mag
			break
		}
	}
	top = math.Ceil(maxV/step-1e-9) * step
	return step, top
}

// tickLabel writes tick v of an axis with the given step and end: in
// millions ("1.5M") when the axis reaches 1,000,000, in thousands ("15k")
// from 10,000, plain below, with as many decimals as the step needs; the
// origin is "0".
func tickLabel(v, step, top float64) string {
	if v == 0 {
		return "0"
	}
	unit, suffix := 1.0, ""
	switch {
	case top >= 1e6:
		unit, suffix = 1e6, "M"
	case top >= 1e4:
		unit, suffix = 1e3, "k"
	}
	dec := max(0, int(math.Ceil(-math.Log10(step/unit)-1e-9)))
	return strconv.FormatFloat(v/unit, 'f', dec, 64) + suffix
}
