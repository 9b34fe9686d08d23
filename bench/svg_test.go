package bench

import (
	"encoding/xml"
	"io"
	"strings"
	"testing"
)

func TestNiceTicks(t *testing.T) {
	f := func(maxV float64, n int, wantStep, wantTop float64) {
		t.Helper()
		step, top := niceTicks(maxV, n)
		if !near(step, wantStep) || !near(top, wantTop) {
			t.Fatalf("niceTicks(%g, %d) = step %g, top %g; want %g, %g", maxV, n, step, top, wantStep, wantTop)
		}
	}
	f(18334, 5, 5000, 20000) // the old axis read 4583, 9167, 14k
	f(19000, 5, 5000, 20000)
	f(20000, 5, 5000, 20000) // an exact multiple is the end
	f(1, 5, 0.2, 1)
	f(0.37, 5, 0.1, 0.4)
	f(7, 5, 2, 8)
	f(10, 5, 2, 10)
	f(11, 5, 5, 15)
	f(1_000_000, 5, 200_000, 1_000_000)
	f(136.2, 5, 50, 150)
	f(0.0042, 4, 0.002, 0.006)
	f(0, 5, 0.2, 1) // nothing to show: 0 to 1
	f(-3, 5, 0.2, 1)
	f(5, 0, 5, 5) // n < 1 counts as 1
}

func near(a, b float64) bool {
	d := a - b
	if d < 0 {
		d = -d
	}
	return d <= 1e-9*max(1, b)
}

func TestTickLabel(t *testing.T) {
	f := func(v, step, top float64, want string) {
		t.Helper()
		if got := tickLabel(v, step, top); got != want {
			t.Fatalf("tickLabel(%g, step %g, top %g) = %q, want %q", v, step, top, got, want)
		}
	}
	f(0, 5000, 20000, "0")
	f(15000, 5000, 20000, "15k")
	f(1000, 1000, 5000, "1000")
	f(0.6000000000000001, 0.2, 1, "0.6") // float noise does not show
	f(0.3, 0.1, 0.4, "0.3")
	f(0.004, 0.002, 0.006, "0.004")
	f(1_500_000, 500_000, 2_000_000, "1.5M")
	f(2_000_000, 500_000, 2_000_000, "2.0M")
	f(1_000_000, 200_000, 1_000_000, "1.0M")
	f(150, 50, 150, "150")
}

func TestLineChartIsSVGWithRoundTicks(t *testing.T) {
	s := lineChart("t <&>", "x", "y", series{Name: "a", Pts: [][2]float64{{0, 0}, {18334, 2}, {9000, 3}}})
	if !strings.HasPrefix(s, "<svg") || !strings.Contains(s, "<polyline") || !strings.Contains(s, "t &lt;&amp;&gt;") {
		t.Fatalf("chart is not the expected SVG:\n%s", s)
	}
	for _, tick := range []string{">0<", ">5k<", ">10k<", ">15k<", ">20k<", ">1<", ">3<"} {
		if !strings.Contains(s, tick) {
			t.Errorf("chart has no tick %s:\n%s", tick, s)
		}
	}
	if strings.Contains(s, "4583") || strings.Contains(s, "9167") {
		t.Errorf("chart has unround ticks:\n%s", s)
	}
	wellFormed(t, s)
}

func TestLineChartLegend(t *testing.T) {
	s := lineChart("t", "x", "y",
		series{Name: "raw", Pts: [][2]float64{{0, 1}, {1, 2}}},
		series{Name: "c1m & co", Pts: [][2]float64{{0, 2}, {1, 4}}},
		series{Name: "empty"})
	if strings.Count(s, "<polyline") != 2 {
		t.Errorf("want 2 lines (the empty series draws none):\n%s", s)
	}
	for _, name := range []string{">raw<", ">c1m &amp; co<", ">empty<"} {
		if !strings.Contains(s, name) {
			t.Errorf("legend lacks %s:\n%s", name, s)
		}
	}
	wellFormed(t, s)
}

func wellFormed(t *testing.T, s string) {
	t.Helper()
	dec := xml.NewDecoder(strings.NewReader(s))
	for {
		_, err := dec.Token()
		if err == io.EOF {
			return
		}
		if err != nil {
			t.Fatalf("not well-formed XML: %v\n%s", err, s)
		}
	}
}
