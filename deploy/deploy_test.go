// Package deploy holds no Go code: it is the deployment files (systemd,
// sysctl, Grafana, Prometheus). Its tests keep the dashboard and the alert
// rules in step with the metrics the server documents, and check their
// PromQL with promtool (Debian's prometheus package; .ci/run installs it).
package deploy

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
)

const (
	dashboardFile = "grafana/c1m.json"
	rulesFile     = "prometheus/c1m-alerts.yml"
	metricsDoc    = "../docs/operations.md"
)

// documentedMetrics returns the metric names of the table in
// docs/operations.md ("| metric | meaning |"): every back-quoted name in
// its first column, labels cut off. Names ending in * are prefixes.
func documentedMetrics(t *testing.T) (names map[string]bool, prefixes []string) {
	t.Helper()
	f, err := os.Open(metricsDoc)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	names = map[string]bool{}
	inTable := false
	quoted := regexp.MustCompile("`([a-z0-9_*]+)(\\{[^`]*\\})?`")
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "| metric | meaning |") {
			inTable = true
			continue
		}
		if !inTable {
			continue
		}
		if !strings.HasPrefix(line, "|") {
			break
		}
		cells := strings.Split(line, "|")
		if len(cells) < 3 {
			continue
		}
		for _, m := range quoted.FindAllStringSubmatch(cells[1], -1) {
			if p, ok := strings.CutSuffix(m[1], "*"); ok {
				prefixes = append(prefixes, p)
			} else {
				names[m[1]] = true
			}
		}
	}
	if len(names) < 20 {
		t.Fatalf("found %d metrics in the table of %s; has the table moved?", len(names), metricsDoc)
	}
	return names, prefixes
}

// dashboardExprs returns the PromQL of every panel target.
func dashboardExprs(t *testing.T) []string {
	t.Helper()
	b, err := os.ReadFile(dashboardFile)
	if err != nil {
		t.Fatal(err)
	}
	var d struct {
		Templating struct {
			List []struct{ Name string }
		}
		Panels []struct {
			Title      string
			Type       string
			Datasource struct{ UID string }
			Targets    []struct{ Expr string }
		}
	}
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatalf("%s: %s", dashboardFile, err)
	}
	vars := map[string]bool{}
	for _, v := range d.Templating.List {
		vars[v.Name] = true
	}
	if !vars["instance"] || !vars["datasource"] {
		t.Fatalf("%s: want the variables instance and datasource, got %v", dashboardFile, vars)
	}
	var out []string
	for _, p := range d.Panels {
		if p.Type == "row" {
			continue
		}
		if p.Datasource.UID != "${datasource}" || len(p.Targets) == 0 {
			t.Fatalf("panel %q: datasource %q, %d targets", p.Title, p.Datasource.UID, len(p.Targets))
		}
		for _, tg := range p.Targets {
			// Every query follows the node picker.
			if !strings.Contains(tg.Expr, `instance=~"$instance"`) {
				t.Fatalf("panel %q: %q ignores the instance variable", p.Title, tg.Expr)
			}
			out = append(out, tg.Expr)
		}
	}
	return out
}

// alertRule is one rule of the rules file as a line scanner sees it (the
// module has no YAML parser; promtool checks the file's syntax).
type alertRule struct {
	name, expr, summary, description string
}

// rules reads the alert rules: each "- alert:" with its expr (one line or
// a folded block) and its two annotations.
func rules(t *testing.T) []alertRule {
	t.Helper()
	b, err := os.ReadFile(rulesFile)
	if err != nil {
		t.Fatal(err)
	}
	var out []alertRule
	lines := strings.Split(string(b), "\n")
	indent := func(s string) int { return len(s) - len(strings.TrimLeft(s, " ")) }
	// block returns the value of key at line i: inline, or the more
	// indented lines that follow a folded ">-".
	block := func(i int, key string) string {
		v := strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(lines[i]), key))
		if v != ">-" && v != ">" && v != "|" {
			return strings.Trim(v, `"`)
		}
		var parts []string
		for j := i + 1; j < len(lines) && (strings.TrimSpace(lines[j]) == "" || indent(lines[j]) > indent(lines[i])); j++ {
			parts = append(parts, strings.TrimSpace(lines[j]))
		}
		return strings.TrimSpace(strings.Join(parts, " "))
	}
	for i, l := range lines {
		s := strings.TrimSpace(l)
		switch {
		case strings.HasPrefix(s, "- alert:"):
			out = append(out, alertRule{name: strings.TrimSpace(strings.TrimPrefix(s, "- alert:"))})
		case len(out) == 0:
		case strings.HasPrefix(s, "expr:"):
			out[len(out)-1].expr = block(i, "expr:")
		case strings.HasPrefix(s, "summary:"):
			out[len(out)-1].summary = block(i, "summary:")
		case strings.HasPrefix(s, "description:"):
			out[len(out)-1].description = block(i, "description:")
		}
	}
	return out
}

var metricName = regexp.MustCompile(`\b(c1m|process|go)_[a-z0-9_]+\b`)

// TestMetricsDocumented: every c1m_, process_ and go_ series the
// dashboard and the alerts query is in the metrics table of
// docs/operations.md, so that the three cannot drift apart.
func TestMetricsDocumented(t *testing.T) {
	names, prefixes := documentedMetrics(t)
	known := func(n string) bool {
		if names[n] {
			return true
		}
		// Histogram series: the documented name with a suffix.
		for _, suf := range []string{"_bucket", "_sum", "_count"} {
			if base, ok := strings.CutSuffix(n, suf); ok && names[base] {
				return true
			}
		}
		for _, p := range prefixes {
			// A prefix row (go_*) covers the runtime's many series, but
			// process metrics the deployment relies on are named one by one.
			if strings.HasPrefix(n, p) && p != "process_" {
				return true
			}
		}
		return false
	}
	used := map[string][]string{}
	for _, e := range dashboardExprs(t) {
		for _, n := range metricName.FindAllString(e, -1) {
			used[n] = append(used[n], dashboardFile)
		}
	}
	rs := rules(t)
	for _, r := range rs {
		for _, n := range metricName.FindAllString(r.expr, -1) {
			used[n] = append(used[n], rulesFile+" "+r.name)
		}
	}
	if len(used) < 20 {
		t.Fatalf("only %d metric names found in the dashboard and rules", len(used))
	}
	var missing []string
	for n, where := range used {
		if !known(n) {
			missing = append(missing, n+" (in "+where[0]+")")
		}
	}
	sort.Strings(missing)
	if len(missing) > 0 {
		t.Fatalf("used but not in the metrics table of %s:\n%s", metricsDoc, strings.Join(missing, "\n"))
	}
}

// TestAlertRules: the alerts the issue names exist, and each tells the
// operator what happened and what to do.
func TestAlertRules(t *testing.T) {
	rs := rules(t)
	byName := map[string]alertRule{}
	for _, r := range rs {
		if r.expr == "" || r.summary == "" || len(r.description) < 80 {
			t.Errorf("alert %s: expr %q, summary %q, description of %d characters; want all three, the description saying what to do", r.name, r.expr, r.summary, len(r.description))
		}
		byName[r.name] = r
	}
	for _, want := range []string{"C1MNodeDown", "C1MNotReady", "C1MSlowConsumersRising", "C1MLoopBusy",
		"C1MQueuedBytesGrowing", "C1MAuthFailuresSpiking", "C1MConnectionsNearMax", "C1MOpenFilesNearLimit"} {
		if _, ok := byName[want]; !ok {
			t.Errorf("no alert %s in %s", want, rulesFile)
		}
	}
}

// promtool returns the path of promtool or fails the test: the deployment
// checks are part of make test, not optional.
func promtool(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("promtool")
	if err != nil {
		t.Fatalf("promtool not found (%v): install Debian's prometheus package (.ci/run does)", err)
	}
	return p
}

// TestPromtool runs promtool check rules and promtool test rules on the
// alert rules, and checks the dashboard's PromQL by wrapping every query,
// its Grafana variables filled in, in a recording rule.
func TestPromtool(t *testing.T) {
	pt := promtool(t)
	run := func(dir string, args ...string) {
		t.Helper()
		cmd := exec.Command(pt, args...)
		cmd.Dir = dir
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	run("prometheus", "check", "rules", "c1m-alerts.yml")
	run("prometheus", "test", "rules", "c1m-alerts_test.yml")

	fill := strings.NewReplacer(`$instance`, `.*`, `$__rate_interval`, `1m`)
	var b strings.Builder
	b.WriteString("groups:\n  - name: dashboard\n    rules:\n")
	for i, e := range dashboardExprs(t) {
		q, _ := json.Marshal(fill.Replace(e)) // a JSON string is a YAML string
		fmt.Fprintf(&b, "      - record: dashboard:query_%d\n        expr: %s\n", i, q)
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "dashboard.yml"), []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	run(dir, "check", "rules", "dashboard.yml")
}
