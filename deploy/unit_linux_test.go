//go:build linux

package deploy

// Tests of the shipped systemd unit and its environment file: systemd
// accepts the unit, its stop timeout covers a drain, and its ExecStart=
// with the example's settings (the operator's REQUIRED values filled in)
// starts a c1m that serves; left unfilled, c1m refuses to start with one
// sentence naming the missing setting.
//
// Where the example listens on every address (0.0.0.0), the tests listen on
// fresh loopback ports instead: a test must not open ports to the network.
// The runs that must be refused use 192.0.2.1 (TEST-NET-1, RFC 5737), an
// address that is not loopback, so c1m applies its off-loopback rules (the
// API key), yet is on no interface of this box, so nothing can bind it even
// if c1m wrongly went on to listen.

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"c1m/internal/c1mtest"
)

// TestUnitVerify runs `systemd-analyze verify` (Debian's systemd package)
// on a copy of the unit whose ExecStart= points at a freshly built c1m:
// verify insists that the command exist. Any output fails the test, since
// systemd-analyze reports a misspelt or unparsable setting on stderr and
// still exits 0; the second half shows that it does.
func TestUnitVerify(t *testing.T) {
	sa, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Fatalf("systemd-analyze not found (%v): install Debian's systemd package (.ci/run does)", err)
	}
	b, err := os.ReadFile(unitFile)
	if err != nil {
		t.Fatal(err)
	}
	from := "\nExecStart=" + installedBinary + " "
	if strings.Count(string(b), from) != 1 {
		t.Fatalf("%s: want one line starting %q", unitFile, from[1:])
	}
	unit := strings.Replace(string(b), from, "\nExecStart="+c1mtest.Binary(t)+" ", 1)
	verify := func(dir, text string) string {
		t.Helper()
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(dir, "c1m.service")
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		// --man=no: the unit names no Documentation= to look up.
		out, err := exec.Command(sa, "verify", "--man=no", p).CombinedOutput()
		if err != nil {
			return fmt.Sprintf("%v\n%s", err, out)
		}
		return strings.TrimSpace(string(out))
	}
	tmp := t.TempDir()
	if out := verify(filepath.Join(tmp, "shipped"), unit); out != "" {
		t.Fatalf("systemd-analyze verify %s:\n%s", unitFile, out)
	}
	bad := strings.Replace(unit, "\nTasksMax=", "\nTasksMaxx=", 1)
	if out := verify(filepath.Join(tmp, "misspelt"), bad); !strings.Contains(out, "TasksMaxx") {
		t.Fatalf("systemd-analyze verify did not report a misspelt key; output %q", out)
	}
}

// TestUnitStopTimeoutCoversDrain: TimeoutStopSec is at least
// --drain-delay + --drain-timeout + --close-linger + 10 s, with the values
// the example sets or else the binary's defaults, so that systemd does not
// SIGKILL a drain under way.
func TestUnitStopTimeoutCoversDrain(t *testing.T) {
	stop := systemdSeconds(t, serviceValue(t, readUnit(t), "TimeoutStopSec"))
	flags := serveFlags(t)
	set := map[string]string{}
	for _, v := range readEnvExample(t) {
		if !v.commented {
			set[flagOf(v.name)] = v.value
		}
	}
	var sum time.Duration
	for _, f := range []string{"drain-delay", "drain-timeout", "close-linger"} {
		def, ok := flags[f]
		if !ok {
			t.Fatalf("c1m serve has no --%s", f)
		}
		v := def
		if s, ok := set[f]; ok {
			v = s
		}
		d, err := time.ParseDuration(v)
		if err != nil {
			t.Fatalf("--%s %q: %v", f, v, err)
		}
		sum += d
	}
	const margin = 10 * time.Second
	if stop < sum+margin {
		t.Fatalf("%s: TimeoutStopSec is %v, less than the drain (%v) + %v", unitFile, stop, sum, margin)
	}
}

// shipped is what the unit runs: ExecStart's arguments after the binary,
// and the example's settings.
type shipped struct {
	args []string
	vars []envVar
	path string // the upgrade path the example leads to
}

// loadShipped reads the unit and the example and checks what the tests
// rely on: ExecStart runs installedBinary, EnvironmentFile= is
// installedEnv without the "-" that would make it optional, every C1M_
// name is a flag of `c1m serve`, REQUIRED settings ship empty, and the
// WebSocket and metrics listeners are on every address.
func loadShipped(t *testing.T) shipped {
	t.Helper()
	lines := readUnit(t)
	argv := execStart(t, lines)
	if argv[0] != installedBinary {
		t.Fatalf("%s: ExecStart runs %s; docs/operations.md installs c1m as %s", unitFile, argv[0], installedBinary)
	}
	if ef := serviceValue(t, lines, "EnvironmentFile"); ef != installedEnv {
		t.Fatalf("%s: EnvironmentFile=%s, want %s (docs/operations.md; no \"-\": the service must not start without it)", unitFile, ef, installedEnv)
	}
	s := shipped{args: argv[1:], vars: readEnvExample(t)}
	flags := serveFlags(t)
	s.path = flags["path"]
	active := map[string]string{}
	for _, v := range s.vars {
		if _, ok := flags[flagOf(v.name)]; !ok {
			t.Errorf("%s:%d: %s is no flag of c1m serve (--%s); c1m would ignore it", envExample, v.line, v.name, flagOf(v.name))
		}
		if v.required && v.value != "" {
			t.Errorf("%s:%d: %s is REQUIRED but ships a value; ship it empty so that c1m refuses to start until it is filled in", envExample, v.line, v.name)
		}
		if !v.commented {
			active[v.name] = v.value
		}
	}
	for _, secret := range []string{"C1M_JWT_SECRET", "C1M_API_KEY"} {
		if active[secret] != "" {
			t.Errorf("%s ships a value for %s: a secret must be the operator's own", envExample, secret)
		}
	}
	for _, name := range []string{"C1M_ADDR", "C1M_METRICS_ADDR"} {
		if host, _, err := net.SplitHostPort(active[name]); err != nil || !allAddresses(host) {
			t.Errorf("%s: %s=%q; want every address (0.0.0.0:port), the binary's default being loopback", envExample, name, active[name])
		}
	}
	if p, ok := active["C1M_PATH"]; ok {
		s.path = p
	}
	if t.Failed() {
		t.FailNow()
	}
	return s
}

func allAddresses(host string) bool { return host == "0.0.0.0" || host == "::" || host == "" }

// listeners are the settings that open a port.
var listeners = []string{"C1M_ADDR", "C1M_METRICS_ADDR", "C1M_API_ADDR"}

// environment returns the example's settings as NAME=value lines, with
// fill's values for the names it holds (a commented setting included), and
// every listener moved to a fresh port: on host where the example has every
// address, on 127.0.0.1 where it has loopback or leaves the default (a
// fixed port). It also returns the listeners' addresses.
func (s shipped) environment(t *testing.T, fill map[string]string, host string) ([]string, map[string]string) {
	t.Helper()
	vals := map[string]string{}
	for _, v := range s.vars {
		if !v.commented {
			vals[v.name] = v.value
		}
	}
	for k, v := range fill {
		vals[k] = v
	}
	addrs := map[string]string{}
	for _, name := range listeners {
		v, ok := vals[name]
		if v == "-" {
			continue
		}
		_, port, _ := net.SplitHostPort(c1mtest.FreeAddr(t))
		h, _, err := net.SplitHostPort(v)
		switch {
		case !ok || (err == nil && (h == "127.0.0.1" || h == "localhost" || h == "::1")):
			vals[name] = net.JoinHostPort("127.0.0.1", port)
		case err == nil && allAddresses(h):
			vals[name] = net.JoinHostPort(host, port)
		default:
			t.Fatalf("%s: %s=%q is neither every address nor loopback; teach this test where to listen", envExample, name, v)
		}
		addrs[name] = vals[name]
	}
	var env []string
	for k, v := range vals {
		if h, _, err := net.SplitHostPort(v); err == nil && allAddresses(h) {
			t.Fatalf("%s: %s=%q would listen on every address; the test knows no such listener", envExample, k, v)
		}
		env = append(env, k+"="+v)
	}
	return env, addrs
}

// operatorFill is what the tests fill in for each REQUIRED setting they
// know; a REQUIRED setting missing here fails the tests.
func operatorFill(t *testing.T, s shipped) map[string]string {
	t.Helper()
	known := map[string]string{
		"C1M_JWT_SECRET": randomHex(t),
		"C1M_API_KEY":    randomHex(t),
	}
	fill := map[string]string{}
	for _, v := range s.vars {
		if !v.required {
			continue
		}
		val, ok := known[v.name]
		if !ok {
			t.Fatalf("%s:%d: %s is REQUIRED; tell operatorFill what an operator puts there", envExample, v.line, v.name)
		}
		fill[v.name] = val
	}
	return fill
}

func randomHex(t *testing.T) string {
	t.Helper()
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

// unboundHost is not loopback but on no interface (TEST-NET-1, RFC 5737).
const unboundHost = "192.0.2.1"

// TestUnitRefusesUnfilledSettings: with the example untouched, or with any
// one REQUIRED setting left as shipped (empty), the unit's command exits 2,
// which the unit does not restart, with a sentence naming the flag of a
// setting left empty.
func TestUnitRefusesUnfilledSettings(t *testing.T) {
	s := loadShipped(t)
	fill := operatorFill(t, s)
	if len(fill) == 0 {
		t.Fatalf("%s marks nothing REQUIRED; with no secret of the operator's, c1m would take no token", envExample)
	}
	if !strings.Contains(serviceValue(t, readUnit(t), "RestartPreventExitStatus"), "2") {
		t.Fatalf("%s: RestartPreventExitStatus does not hold 2: systemd would restart a refused start forever", unitFile)
	}
	if ln, err := net.Listen("tcp", unboundHost+":0"); err == nil {
		ln.Close()
		t.Fatalf("this box can bind %s; the refusal runs would listen there", unboundHost)
	}
	refused := func(partial map[string]string, missing []string) {
		t.Helper()
		env, _ := s.environment(t, partial, unboundHost)
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		cmd := exec.CommandContext(ctx, c1mtest.Binary(t), s.args...)
		cmd.Env = c1mtest.Env(env...)
		out, err := cmd.CombinedOutput()
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != 2 {
			t.Fatalf("without %v: %v, want exit status 2\n%s", missing, err, out)
		}
		for _, l := range strings.Split(string(out), "\n") {
			for _, m := range missing {
				if strings.HasPrefix(l, "c1m serve: ") && strings.Contains(l, "--"+flagOf(m)) && strings.HasSuffix(l, ".") {
					return
				}
			}
		}
		t.Fatalf("without %v: no sentence naming its flag:\n%s", missing, out)
	}
	var all []string
	for name := range fill {
		all = append(all, name)
		partial := map[string]string{}
		for k, v := range fill {
			if k != name {
				partial[k] = v
			}
		}
		refused(partial, []string{name})
	}
	refused(nil, all)
}

// startShipped runs the unit's command with the example's environment,
// fill on top, listeners on fresh loopback ports; it retries if a port was
// taken between picking and binding it.
func startShipped(t *testing.T, s shipped, fill map[string]string) (*c1mtest.Proc, map[string]string) {
	t.Helper()
	for attempt := 0; ; attempt++ {
		env, addrs := s.environment(t, fill, "127.0.0.1")
		p, err := c1mtest.Start(t, addrs["C1M_ADDR"], addrs["C1M_METRICS_ADDR"], s.args, env)
		if err == nil {
			return p, addrs
		}
		if attempt == 2 || !strings.Contains(err.Error(), "address already in use") {
			t.Fatal(err)
		}
	}
}

// TestUnitStartsAsShipped runs the unit's ExecStart= with the example's
// settings and the REQUIRED ones filled in, as an operator installs it, and
// sees it serve: /livez and /readyz answer 200, a WebSocket client with a
// token signed by the filled-in secret upgrades and joins a room, one with
// another secret's token gets 401, the publish API takes the filled-in key
// (and refuses a request without it) and delivers to the room, and SIGTERM
// (systemctl stop) closes the client with 1001 and exits 0 within the
// unit's TimeoutStopSec.
func TestUnitStartsAsShipped(t *testing.T) {
	s := loadShipped(t)
	fill := operatorFill(t, s)
	p, addrs := startShipped(t, s, fill)
	if code := p.Readyz(); code != http.StatusOK {
		t.Fatalf("/readyz: %d", code)
	}
	tok := signHS256(t, []byte(fill["C1M_JWT_SECRET"]))
	c := dialToken(t, addrs["C1M_ADDR"], s.path, tok)
	defer c.Close()
	if status := refusedStatus(t, addrs["C1M_ADDR"], s.path, signHS256(t, []byte(randomHex(t)))); status != http.StatusUnauthorized {
		t.Fatalf("a token signed with another secret: status %d, want 401", status)
	}
	joinLobby(t, c)

	api := addrs["C1M_API_ADDR"]
	if api == "" {
		t.Fatalf("%s turns the publish API off; this test publishes through it", envExample)
	}
	if code := publish(t, api, ""); code != http.StatusUnauthorized {
		t.Fatalf("publish without the key: %d, want 401", code)
	}
	if code := publish(t, api, fill["C1M_API_KEY"]); code != http.StatusAccepted {
		t.Fatalf("publish with the key: %d, want 202", code)
	}
	msg, err := c.NextMessage()
	if err != nil || !strings.Contains(string(msg), `"type":"message"`) || !strings.Contains(string(msg), "from the unit test") {
		t.Fatalf("the published message: %q, %v", msg, err)
	}

	stop := systemdSeconds(t, serviceValue(t, readUnit(t), "TimeoutStopSec"))
	p.Signal(syscall.SIGTERM)
	code, _, err := c.ReadClose()
	if err != nil || code != 1001 {
		t.Fatalf("after SIGTERM: close %d, %v; want 1001", code, err)
	}
	c.Close()
	if code := p.Wait(stop); code != 0 {
		t.Fatalf("after SIGTERM: exit status %d, want 0", code)
	}
}

// TestUnitStartsWithPublicKey: the example's alternative to the secret, a
// public key file in C1M_JWT_PUBLIC_KEY with C1M_JWT_SECRET left empty as
// shipped, starts a c1m that takes ES256 tokens signed with its key.
func TestUnitStartsWithPublicKey(t *testing.T) {
	s := loadShipped(t)
	found := false
	for _, v := range s.vars {
		found = found || v.name == "C1M_JWT_PUBLIC_KEY"
	}
	if !found {
		t.Fatalf("%s does not show C1M_JWT_PUBLIC_KEY, the alternative to the secret", envExample)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	pemFile := filepath.Join(t.TempDir(), "jwt-public.pem")
	if err := os.WriteFile(pemFile, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), 0o644); err != nil {
		t.Fatal(err)
	}
	fill := operatorFill(t, s)
	delete(fill, "C1M_JWT_SECRET")
	fill["C1M_JWT_PUBLIC_KEY"] = pemFile
	_, addrs := startShipped(t, s, fill)
	c := dialToken(t, addrs["C1M_ADDR"], s.path, signES256(t, key))
	defer c.Close()
	joinLobby(t, c)
}
