package sysctl

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const keepalivePrefix = "net.ipv4.tcp_keepalive_"

// TestKeepaliveNotChecked: neither profile sets net.ipv4.tcp_keepalive_*
// and the check has no row for them, so `c1m serve` does not warn at start
// about timers that act on no socket of c1m's (its client sockets have no
// SO_KEEPALIVE; the WebSocket heartbeat finds dead peers).
func TestKeepaliveNotChecked(t *testing.T) {
	for _, role := range []Role{RoleServer, RoleLoadgen} {
		for _, e := range parseProfile(t, role) {
			if strings.HasPrefix(e.Key, keepalivePrefix) {
				t.Errorf("%s profile line %d sets %s", role, e.Line, e.Key)
			}
		}
		// A stock kernel (7200/75/9) is as good as any other here.
		rows, err := Check(Env{Root: fakeTree(t, defaults()), PageSize: 4096}, 1_000_000, role)
		if err != nil {
			t.Fatalf("Check: %s", err)
		}
		for _, r := range rows {
			if strings.HasPrefix(r.Key, keepalivePrefix) {
				t.Errorf("role %s: check reports %+v", role, r)
			}
		}
	}
}

// olderServerConf is the part of 60-c1m-server.conf that concerns us as an
// older c1m installed it: its profile set the keepalive timers.
const olderServerConf = `net.core.somaxconn = 65535
net.ipv4.tcp_keepalive_time = 600
net.ipv4.tcp_keepalive_intvl = 30
net.ipv4.tcp_keepalive_probes = 5
`

// olderBackup is the backup an older c1m's apply wrote on a stock box, in
// the file format (literal JSON, so that a change of format shows here).
func olderBackup(conf string) string {
	return fmt.Sprintf(`{
  "keys": [
    {"key": "net.core.somaxconn", "old": "4096"},
    {"key": "net.ipv4.tcp_keepalive_time", "old": "7200"},
    {"key": "net.ipv4.tcp_keepalive_intvl", "old": "75"},
    {"key": "net.ipv4.tcp_keepalive_probes", "old": "9"}
  ],
  "files": [
    {"path": %q, "existed": false}
  ]
}
`, conf)
}

// TestRevertRestoresKeepaliveFromOlderApply: a box tuned by an older c1m
// (keepalive timers lowered, its backup in the sysctl.d directory) gets
// its original timers back from today's revert, whether or not today's
// apply ran in between; the older installed file goes too.
func TestRevertRestoresKeepaliveFromOlderApply(t *testing.T) {
	f := func(applyAgain bool) {
		t.Helper()
		root := fakeTree(t, with(defaults(),
			"net.core.somaxconn", "65535",
			"net.ipv4.tcp_keepalive_time", "600",
			"net.ipv4.tcp_keepalive_intvl", "30",
			"net.ipv4.tcp_keepalive_probes", "5",
		))
		dir := t.TempDir()
		conf := filepath.Join(dir, SysctlProfileName(RoleServer))
		if err := os.WriteFile(conf, []byte(olderServerConf), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, BackupName), []byte(olderBackup(conf)), 0o600); err != nil {
			t.Fatal(err)
		}
		env := Env{Root: root, NoFile: &Rlimit{Cur: 20000, Max: 20000}}
		if applyAgain {
			if _, err := Apply(env, ApplyOptions{Role: RoleServer, Dir: dir}); err != nil {
				t.Fatalf("Apply: %s", err)
			}
			// Today's apply leaves the timers as they are and installs
			// a file without them.
			if v := readTree(t, root, "net.ipv4.tcp_keepalive_time"); v != "600" {
				t.Fatalf("apply changed tcp_keepalive_time to %q", v)
			}
			b, err := os.ReadFile(conf)
			if err != nil || strings.Contains(string(b), "\n"+keepalivePrefix) {
				t.Fatalf("installed profile (err %v) still sets keepalive:\n%s", err, b)
			}
		}
		res, err := Revert(env, dir)
		if err != nil {
			t.Fatalf("Revert: %s (%+v)", err, res)
		}
		for key, want := range map[string]string{
			"net.core.somaxconn":            "4096",
			"net.ipv4.tcp_keepalive_time":   "7200",
			"net.ipv4.tcp_keepalive_intvl":  "75",
			"net.ipv4.tcp_keepalive_probes": "9",
		} {
			if v := readTree(t, root, key); v != want {
				t.Fatalf("after Revert %s = %q, want %q (results %+v)", key, v, want, res)
			}
		}
		for _, r := range res {
			if r.Outcome == Refused {
				t.Fatalf("Revert refused %+v", r)
			}
		}
		if _, err := os.Stat(conf); !errors.Is(err, fs.ErrNotExist) {
			t.Fatalf("Revert left %s: %v", conf, err)
		}
		if _, err := os.Stat(filepath.Join(dir, BackupName)); !errors.Is(err, fs.ErrNotExist) {
			t.Fatalf("Revert left the backup: %v", err)
		}
	}
	f(false)
	f(true)
}
