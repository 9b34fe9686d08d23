//go:build linux

package deploy

// Readers for the systemd unit, the environment file example and the flag
// list of `c1m serve -h`, shared by the unit's tests (unit_linux_test.go).
// They accept only the subset of systemd's syntax the shipped files use and
// fail the test on anything else, so that a test never reads a file
// differently from systemd.

import (
	"bufio"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"c1m/internal/c1mtest"
)

const (
	unitFile   = "systemd/c1m.service"
	envExample = "c1m.env.example"
	// installedBinary and installedEnv are where docs/operations.md
	// installs the binary and the environment file.
	installedBinary = "/usr/local/bin/c1m"
	installedEnv    = "/etc/c1m/c1m.env"
)

// unitLine is one Key=Value line of a unit file.
type unitLine struct {
	section, key, value string
	line                int
}

// readUnit reads unitFile: [Section] headers, Key=Value lines, comments
// (# or ;) and blank lines. A continuation line (trailing backslash) fails
// the test: nothing here joins them as systemd would.
func readUnit(t *testing.T) []unitLine {
	t.Helper()
	f, err := os.Open(unitFile)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []unitLine
	section := ""
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		l := strings.TrimSpace(sc.Text())
		switch {
		case l == "" || l[0] == '#' || l[0] == ';':
		case strings.HasSuffix(l, `\`):
			t.Fatalf("%s:%d: a continuation line; the tests cannot read it as systemd does", unitFile, n)
		case l[0] == '[' && l[len(l)-1] == ']':
			section = l[1 : len(l)-1]
		default:
			k, v, ok := strings.Cut(l, "=")
			if !ok {
				t.Fatalf("%s:%d: %q is not Key=Value", unitFile, n, l)
			}
			out = append(out, unitLine{section: section, key: strings.TrimSpace(k), value: strings.TrimSpace(v), line: n})
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// serviceValue returns the one value of key in [Service]; it fails the
// test if the key is absent or repeated.
func serviceValue(t *testing.T, lines []unitLine, key string) string {
	t.Helper()
	var vals []string
	for _, l := range lines {
		if l.section == "Service" && l.key == key {
			vals = append(vals, l.value)
		}
	}
	if len(vals) != 1 {
		t.Fatalf("%s: want one %s= in [Service], found %q", unitFile, key, vals)
	}
	return vals[0]
}

// execStart splits the unit's ExecStart= into argv. Prefixes (@ - : + !),
// quotes, variables ($) and specifiers (%) fail the test: a plain list of
// words is what systemd runs as it is.
func execStart(t *testing.T, lines []unitLine) []string {
	t.Helper()
	v := serviceValue(t, lines, "ExecStart")
	if strings.ContainsAny(v, `"'$%\`) || strings.ContainsAny(v[:1], "@-:+!") {
		t.Fatalf("%s: ExecStart=%s uses syntax this test does not expand; keep it a plain command line", unitFile, v)
	}
	return strings.Fields(v)
}

// envVar is one setting of the environment file example: an assignment,
// or an assignment commented out (an optional setting shown with a
// typical value).
type envVar struct {
	name, value string
	commented   bool
	// required: the comment above it says REQUIRED; the example ships it
	// empty for the operator to fill in.
	required bool
	line     int
}

var (
	envAssign    = regexp.MustCompile(`^([A-Z][A-Z0-9_]*)=(.*)$`)
	envCommented = regexp.MustCompile(`^#(C1M_[A-Z0-9_]+)=(.*)$`)
)

// readEnvExample reads envExample as systemd reads an EnvironmentFile=,
// restricted to NAME=value lines whose values need no quoting or
// expansion: a value with quotes, backslashes, $ or spaces fails the test.
func readEnvExample(t *testing.T) []envVar {
	t.Helper()
	b, err := os.ReadFile(envExample)
	if err != nil {
		t.Fatal(err)
	}
	var out []envVar
	var comment []string // the comment lines right above
	for i, l := range strings.Split(string(b), "\n") {
		n := i + 1
		var v envVar
		if m := envCommented.FindStringSubmatch(l); m != nil {
			v = envVar{name: m[1], value: m[2], commented: true, line: n}
		} else if m := envAssign.FindStringSubmatch(l); m != nil {
			v = envVar{name: m[1], value: m[2], line: n}
		} else {
			switch {
			case l == "":
				comment = nil
			case l[0] == '#':
				comment = append(comment, l)
			default:
				t.Fatalf("%s:%d: %q is neither NAME=value nor a comment", envExample, n, l)
			}
			continue
		}
		if strings.ContainsAny(v.value, "\"'\\$ \t") {
			t.Fatalf("%s:%d: the value of %s needs quoting or expansion; keep values plain", envExample, n, v.name)
		}
		if !strings.HasPrefix(v.name, "C1M_") {
			t.Fatalf("%s:%d: %s is not a C1M_ variable; c1m reads only those", envExample, n, v.name)
		}
		v.required = strings.Contains(strings.Join(comment, "\n"), "REQUIRED")
		if v.required && v.commented {
			t.Fatalf("%s:%d: %s is REQUIRED but commented out", envExample, n, v.name)
		}
		out = append(out, v)
		comment = nil
	}
	return out
}

// flagOf is the `c1m serve` flag a C1M_ variable sets (flagsource.go).
func flagOf(name string) string {
	return strings.ToLower(strings.ReplaceAll(strings.TrimPrefix(name, "C1M_"), "_", "-"))
}

// serveFlags returns every flag of `c1m serve -h` with its default ("" when
// the help shows none: a zero value).
func serveFlags(t *testing.T) map[string]string {
	t.Helper()
	cmd := exec.Command(c1mtest.Binary(t), "serve", "-h")
	cmd.Env = c1mtest.Env()
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("c1m serve -h: %v\n%s", err, out)
	}
	flags := map[string]string{}
	name := ""
	def := regexp.MustCompile(`\(default (.*)\)$`)
	for _, l := range strings.Split(string(out), "\n") {
		if strings.HasPrefix(l, "  -") {
			name = strings.Fields(l[3:])[0]
			flags[name] = ""
		}
		if m := def.FindStringSubmatch(l); m != nil && name != "" {
			v := m[1]
			if u, err := strconv.Unquote(v); err == nil {
				v = u
			}
			flags[name] = v
		}
	}
	if len(flags) < 20 || flags["addr"] == "" {
		t.Fatalf("read %d flags from c1m serve -h; has its format changed?\n%s", len(flags), out)
	}
	return flags
}

// systemdSeconds parses a systemd time span as the unit writes it: a
// number of seconds, or numbers with the units s, min, ms (systemd.time(7)),
// e.g. "60s" or "1min 30s".
func systemdSeconds(t *testing.T, v string) time.Duration {
	t.Helper()
	if n, err := strconv.Atoi(v); err == nil {
		return time.Duration(n) * time.Second
	}
	var total time.Duration
	for _, part := range strings.Fields(v) {
		d, err := time.ParseDuration(strings.Replace(part, "min", "m", 1))
		if err != nil || strings.HasSuffix(part, "m") {
			t.Fatalf("%s: cannot read the time span %q (want s, min or ms)", unitFile, v)
		}
		total += d
	}
	return total
}
