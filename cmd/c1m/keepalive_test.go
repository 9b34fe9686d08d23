package main

import (
	"bytes"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"c1m/sysctl"
)

// stockKeepalive writes a stock kernel's keepalive timers (7200/75/9)
// into the fake root.
func stockKeepalive(t *testing.T, root string, values ...string) {
	t.Helper()
	if len(values) == 0 {
		values = []string{"7200", "75", "9"}
	}
	for i, name := range []string{"tcp_keepalive_time", "tcp_keepalive_intvl", "tcp_keepalive_probes"} {
		if err := os.WriteFile(filepath.Join(root, "proc/sys/net/ipv4", name), []byte(values[i]+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// TestPreflightDoesNotWarnAboutKeepalive: at start `c1m serve` warns about
// what is short for its connections (here somaxconn), never about the
// keepalive timers, which act on no socket of c1m's.
func TestPreflightDoesNotWarnAboutKeepalive(t *testing.T) {
	root := sysctlFakeRoot(t, "4096")
	stockKeepalive(t, root)
	var out bytes.Buffer
	preflightEnv(slog.New(slog.NewTextHandler(&out, nil)), sysctl.Env{Root: root}, 1_000_000)
	if !strings.Contains(out.String(), "net.core.somaxconn") {
		t.Fatalf("no warning about the short somaxconn; the preflight did not run:\n%s", out.String())
	}
	if strings.Contains(out.String(), "keepalive") {
		t.Fatalf("the preflight warns about keepalive:\n%s", out.String())
	}
}

// TestSysctlKeepaliveLeftAlone: `c1m sysctl check` has no keepalive rows,
// `apply` leaves the timers alone, and `revert` still restores timers an
// older c1m's apply lowered, from the backup that apply wrote.
func TestSysctlKeepaliveLeftAlone(t *testing.T) {
	root := sysctlFakeRoot(t, "4096")
	stockKeepalive(t, root)
	code, stdout, stderr := sysctlRun("check", "--root", root, "--conns", "1000000")
	if code != 1 || !strings.Contains(stdout, "net.core.somaxconn") || strings.Contains(stdout, "keepalive") {
		t.Fatalf("check: exit %d, stdout %q, stderr %q; want somaxconn short and no keepalive row", code, stdout, stderr)
	}

	// The box as an older apply left it: timers lowered, the backup beside
	// the installed profile.
	stockKeepalive(t, root, "600", "30", "5")
	dir := t.TempDir()
	conf := filepath.Join(dir, "60-c1m-server.conf")
	if err := os.WriteFile(conf, []byte("net.ipv4.tcp_keepalive_time = 600\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	backup := fmt.Sprintf(`{"keys": [{"key": "net.ipv4.tcp_keepalive_time", "old": "7200"}, {"key": "net.ipv4.tcp_keepalive_intvl", "old": "75"}, {"key": "net.ipv4.tcp_keepalive_probes", "old": "9"}], "files": [{"path": %q, "existed": false}]}`, conf)
	if err := os.WriteFile(filepath.Join(dir, sysctl.BackupName), []byte(backup), 0o600); err != nil {
		t.Fatal(err)
	}
	code, stdout, stderr = sysctlRun("apply", "--root", root, "--dir", dir)
	if code != 0 || strings.Contains(stdout, "keepalive") {
		t.Fatalf("apply: exit %d, stdout %q, stderr %q; want no keepalive row", code, stdout, stderr)
	}
	code, stdout, stderr = sysctlRun("revert", "--root", root, "--dir", dir)
	if code != 0 {
		t.Fatalf("revert: exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
	for name, want := range map[string]string{"tcp_keepalive_time": "7200", "tcp_keepalive_intvl": "75", "tcp_keepalive_probes": "9"} {
		if b, _ := os.ReadFile(filepath.Join(root, "proc/sys/net/ipv4", name)); string(b) != want+"\n" {
			t.Fatalf("revert left %s = %q, want %s\n%s", name, b, want, stdout)
		}
	}
}
