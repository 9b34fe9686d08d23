//go:build linux

package conformance

import (
	"fmt"
	"io"
	"sort"
	"strings"
	"time"
)

// categories names Autobahn's case groups by their first number.
var categories = []struct{ id, name string }{
	{"1", "Framing"},
	{"2", "Pings/Pongs"},
	{"3", "Reserved bits"},
	{"4", "Opcodes"},
	{"5", "Fragmentation"},
	{"6", "UTF-8 handling"},
	{"7", "Close handling"},
	{"9", "Limits/Performance"},
}

// tally counts results per category.
type tally struct{ ok, nonStrict, failed, skipped int }

func summarize(rows []caseResult, skipped []*wsCase) map[string]*tally {
	t := map[string]*tally{}
	get := func(id string) *tally {
		cat, _, _ := strings.Cut(id, ".")
		if t[cat] == nil {
			t[cat] = &tally{}
		}
		return t[cat]
	}
	for _, r := range rows {
		x := get(r.c.id)
		switch r.result {
		case resOK:
			x.ok++
		case resNonStrict:
			x.nonStrict++
		default:
			x.failed++
		}
	}
	for _, c := range skipped {
		get(c.id).skipped++
	}
	return t
}

// writeTable writes the summary and the case table in Markdown.
func writeTable(w io.Writer, rows []caseResult, skipped []*wsCase, total time.Duration) {
	sum := summarize(rows, skipped)
	fmt.Fprintf(w, "| category | cases | OK | NON-STRICT | FAILED | not run (slow) |\n|---|---:|---:|---:|---:|---:|\n")
	var all tally
	for _, c := range categories {
		x := sum[c.id]
		if x == nil {
			x = &tally{}
		}
		fmt.Fprintf(w, "| %s %s | %d | %d | %d | %d | %d |\n", c.id, c.name, x.ok+x.nonStrict+x.failed, x.ok, x.nonStrict, x.failed, x.skipped)
		all.ok += x.ok
		all.nonStrict += x.nonStrict
		all.failed += x.failed
		all.skipped += x.skipped
	}
	fmt.Fprintf(w, "| **all** | **%d** | **%d** | **%d** | **%d** | **%d** |\n\n", all.ok+all.nonStrict+all.failed, all.ok, all.nonStrict, all.failed, all.skipped)
	fmt.Fprintf(w, "Wall time of the run: %v.\n\n", total.Round(time.Millisecond))
	fmt.Fprintf(w, "| case | description | RFC 6455 | behaviour | close code | duration | note |\n|---|---|---|---|---|---:|---|\n")
	for _, r := range rows {
		fmt.Fprintf(w, "| %s | %s | %s | %s | %s | %s | %s |\n", r.c.id, mdEscape(r.c.desc), r.c.rfc, r.result, r.code, fmtDur(r.dur), mdEscape(r.note))
	}
}

func mdEscape(s string) string { return strings.ReplaceAll(s, "|", `\|`) }

func fmtDur(d time.Duration) string {
	if d < 10*time.Millisecond {
		return fmt.Sprintf("%.2f ms", float64(d.Microseconds())/1000)
	}
	return d.Round(time.Millisecond).String()
}

// caseLess orders case ids numerically part by part ("5.9" < "5.10").
func caseLess(a, b string) bool {
	pa, pb := strings.Split(a, "."), strings.Split(b, ".")
	for i := 0; i < len(pa) && i < len(pb); i++ {
		var x, y int
		fmt.Sscan(pa[i], &x)
		fmt.Sscan(pb[i], &y)
		if x != y {
			return x < y
		}
	}
	return len(pa) < len(pb)
}

func sortCases(cs []*wsCase) {
	sort.SliceStable(cs, func(i, j int) bool { return caseLess(cs[i].id, cs[j].id) })
}
