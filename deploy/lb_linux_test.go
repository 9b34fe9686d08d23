//go:build linux

package deploy

// Tests of the shipped load balancer configurations: HAProxy and nginx
// (Debian's packages; .ci/deps installs them) accept them, rendered with
// a test certificate and loopback addresses in place of the production
// paths and addresses, and they say what docs/operations.md promises.
// cmd/c1m's TestHAProxyFailover runs the HAProxy one for real.

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"c1m/internal/c1mtest"
)

const (
	haproxyFile = "haproxy/c1m.cfg"
	nginxFile   = "nginx/c1m.conf"
)

func lookTool(t *testing.T, name, pkg string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		// Not in PATH for a non-root shell: Debian puts both in /usr/sbin.
		if _, serr := os.Stat("/usr/sbin/" + name); serr == nil {
			return "/usr/sbin/" + name
		}
		t.Fatalf("%s not found (%v): install Debian's %s package (.ci/deps does, as part of make test)", name, err, pkg)
	}
	return p
}

func readFile(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestHAProxyConfig: `haproxy -c` accepts the shipped configuration with
// the test's certificate and addresses, maxconn as shipped; it refuses a
// broken copy (so the check can fail); and the file is what the docs say:
// layer 4, leastconn, TLS on the front, PROXY v2 and /readyz checks toward
// c1m, tunnels of an hour or more.
func TestHAProxyConfig(t *testing.T) {
	hap := lookTool(t, "haproxy", "haproxy")
	shipped := readFile(t, haproxyFile)
	tlsf := c1mtest.NewTLSFiles(t)
	dir := t.TempDir()
	cfg := c1mtest.RenderHAProxy(t, shipped, c1mtest.HAProxyOptions{
		Bind: "127.0.0.1:26443", PEMFile: tlsf.PEMFile, Dir: dir,
		Servers: []c1mtest.LBServer{{Addr: "127.0.0.1:26080", MetricsPort: 26090}, {Addr: "127.0.0.1:26081", MetricsPort: 26091}},
	})
	check := func(text string) (string, error) {
		name := filepath.Join(dir, "haproxy.cfg")
		if err := os.WriteFile(name, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
		out, err := exec.Command(hap, "-c", "-f", name).CombinedOutput()
		return string(out), err
	}
	if out, err := check(cfg); err != nil {
		t.Fatalf("haproxy -c refuses the shipped configuration: %v\n%s\n%s", err, out, cfg)
	}
	if out, err := check(strings.Replace(cfg, "balance leastconn", "balance leastconns", 1)); err == nil {
		t.Fatalf("haproxy -c accepted a misspelt balance algorithm:\n%s", out)
	}

	need := []struct{ what, re string }{
		{"layer 4", `(?m)^\s*mode tcp$`},
		{"leastconn", `(?m)^\s*balance leastconn$`},
		{"TLS on the front", `(?m)^\s*bind :443 ssl crt \S+`},
		{"the PROXY protocol v2 toward c1m", `(?m)^\s*default-server .*\bsend-proxy-v2\b`},
		{"health checks on /readyz", `(?m)^\s*option httpchk GET /readyz$`},
		{"checks on the metrics port", `(?m)^\s*server \S+ \S+ port \d+$`},
		{"checks on every server", `(?m)^\s*default-server .*\bcheck\b`},
		{"half-closed client timeout", `(?m)^\s*timeout client-fin \d+s$`},
		{"half-closed server timeout", `(?m)^\s*timeout server-fin \d+s$`},
		{"a million connections", `(?m)^\s*maxconn 1000000$`},
	}
	for _, n := range need {
		if !regexp.MustCompile(n.re).MatchString(shipped) {
			t.Errorf("%s: no line for %s (%s)", haproxyFile, n.what, n.re)
		}
	}
	for _, k := range []string{"tunnel", "client", "server"} {
		m := regexp.MustCompile(`(?m)^\s*timeout ` + k + ` (\S+)$`).FindStringSubmatch(shipped)
		if m == nil {
			t.Errorf("%s: no timeout %s", haproxyFile, k)
			continue
		}
		d, err := time.ParseDuration(m[1])
		if err != nil || d < time.Hour {
			t.Errorf("%s: timeout %s %s, want at least 1h: a WebSocket is a long tunnel", haproxyFile, k, m[1])
		}
	}
}

// TestNginxConfig: `nginx -t` accepts the shipped configuration with the
// test's certificate, addresses and paths, refuses a broken copy, and the
// file forwards the upgrade as docs/operations.md says.
func TestNginxConfig(t *testing.T) {
	ngx := lookTool(t, "nginx", "nginx")
	shipped := readFile(t, nginxFile)
	tlsf := c1mtest.NewTLSFiles(t)
	dir := t.TempDir()
	cfg := c1mtest.RenderNginx(t, shipped, c1mtest.NginxOptions{
		Listen: "127.0.0.1:26444", CertFile: tlsf.CertFile, KeyFile: tlsf.KeyFile, Dir: dir,
		Servers: []string{"127.0.0.1:26080", "127.0.0.1:26081"},
	})
	check := func(text string) (string, error) {
		name := filepath.Join(dir, "nginx.conf")
		if err := os.WriteFile(name, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
		// -p: a prefix of the test's own; -e: the start-up error log too.
		out, err := exec.Command(ngx, "-t", "-q", "-p", dir, "-c", name, "-e", filepath.Join(dir, "startup.log")).CombinedOutput()
		return string(out), err
	}
	if out, err := check(cfg); err != nil {
		t.Fatalf("nginx -t refuses the shipped configuration: %v\n%s\n%s", err, out, cfg)
	}
	if out, err := check(strings.Replace(cfg, "proxy_http_version 1.1;", "proxy_http_versio 1.1;", 1)); err == nil {
		t.Fatalf("nginx -t accepted a misspelt directive:\n%s", out)
	}
	need := []struct{ what, re string }{
		{"the Connection header from the upgrade", `(?s)map \$http_upgrade \$connection_upgrade \{\s*default upgrade;\s*''\s*close;`},
		{"HTTP/1.1 to c1m", `(?m)^\s*proxy_http_version 1\.1;$`},
		{"the Upgrade header", `(?m)^\s*proxy_set_header Upgrade \$http_upgrade;$`},
		{"the Connection header", `(?m)^\s*proxy_set_header Connection \$connection_upgrade;$`},
		{"no buffering", `(?m)^\s*proxy_buffering off;$`},
		{"hashing on the user", `(?m)^\s*hash \$(arg_user|cookie_\w+|http_\w+) consistent;$`},
		{"TLS", `(?m)^\s*listen 443 ssl;$`},
	}
	for _, n := range need {
		if !regexp.MustCompile(n.re).MatchString(shipped) {
			t.Errorf("%s: no line for %s (%s)", nginxFile, n.what, n.re)
		}
	}
	m := regexp.MustCompile(`(?m)^\s*proxy_read_timeout (\d+)([smh]);$`).FindStringSubmatch(shipped)
	if m == nil {
		t.Fatalf("%s: no proxy_read_timeout (nginx's default, 60s, would cut idle WebSockets)", nginxFile)
	}
	if d, _ := time.ParseDuration(m[1] + m[2]); d < time.Hour {
		t.Errorf("%s: proxy_read_timeout %s%s, want at least 1h", nginxFile, m[1], m[2])
	}
}
