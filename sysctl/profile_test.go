package sysctl

import (
	"bufio"
	"bytes"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

func parseProfile(t *testing.T, role Role) []Entry {
	t.Helper()
	b, err := SysctlProfile(role)
	if err != nil {
		t.Fatalf("cannot read the %s profile: %s", role, err)
	}
	entries, err := ParseSysctlConf(b)
	if err != nil {
		t.Fatalf("cannot parse the %s profile: %s", role, err)
	}
	if len(entries) == 0 {
		t.Fatalf("the %s profile is empty", role)
	}
	return entries
}

func TestProfileKeysInTable(t *testing.T) {
	for _, role := range []Role{RoleServer, RoleLoadgen} {
		b, _ := SysctlProfile(role)
		lines := strings.Split(string(b), "\n")
		for _, e := range parseProfile(t, role) {
			s, ok := lookup(e.Key)
			if !ok {
				t.Fatalf("%s profile: %s is not in the checker's table", role, e.Key)
			}
			if !s.hasRole(role) {
				t.Fatalf("%s profile: the checker does not check %s for that role", role, e.Key)
			}
			if v, err := parseFields(e.Value); err != nil || len(v) != len(s.dirs) {
				t.Fatalf("%s profile: %s = %q does not have %d integer fields", role, e.Key, e.Value, len(s.dirs))
			}
			// Every value carries a one-line comment right above it.
			if e.Line < 2 || !strings.HasPrefix(lines[e.Line-2], "# ") {
				t.Fatalf("%s profile: %s has no comment on the line above", role, e.Key)
			}
		}
	}
}

// TestProfilesSatisfyCheck: a box carrying exactly the profiles' values
// passes the check for a million connections.
func TestProfilesSatisfyCheck(t *testing.T) {
	files := defaults()
	for _, role := range []Role{RoleServer, RoleLoadgen} {
		for _, e := range parseProfile(t, role) {
			files[e.Key] = e.Value
		}
	}
	// The hash is sized at boot, not by a profile: the box was booted
	// with the thash_entries= docs/operations.md gives for a million.
	files["net.ipv4.tcp_ehash_entries"] = "524288"
	nofile := limitsNoFile(t)
	files["proc/self/limits"] = "Max open files            " + nofile + "              " + nofile + "              files"
	root := fakeTree(t, files)
	for _, role := range []Role{RoleServer, RoleLoadgen} {
		rows, err := Check(Env{Root: root, PageSize: 4096}, 1_000_000, role)
		if err != nil {
			t.Fatalf("Check: %s", err)
		}
		for _, r := range rows {
			if r.Status != StatusOK {
				t.Fatalf("role %s: the profiles leave %s %s: %+v", role, r.Key, r.Status, r)
			}
		}
	}
}

func limitsNoFile(t *testing.T) string {
	t.Helper()
	v, err := profileNoFile()
	if err != nil {
		t.Fatalf("limits.d profile: %s", err)
	}
	return strconv.FormatUint(v, 10)
}

// TestNoFileProfilesAgree: limits.d and the unit give the same open-files
// limit, enough for a million connections and within fs.nr_open.
func TestNoFileProfilesAgree(t *testing.T) {
	entries, err := ParseLimitsConf(LimitsProfile())
	if err != nil {
		t.Fatalf("cannot parse limits.d/c1m.conf: %s", err)
	}
	want := limitsNoFile(t)
	for _, e := range entries {
		if e.Item != "nofile" || strconv.FormatUint(e.Value, 10) != want {
			t.Fatalf("limits.d/c1m.conf: %+v differs from hard nofile %s", e, want)
		}
	}
	unit, err := fs.ReadFile(Profiles(), "systemd/c1m.service")
	if err != nil {
		t.Fatalf("cannot read c1m.service: %s", err)
	}
	got := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(unit))
	for sc.Scan() {
		if k, v, ok := strings.Cut(sc.Text(), "="); ok && !strings.HasPrefix(k, "#") {
			got[k] = v
		}
	}
	if got["LimitNOFILE"] != want {
		t.Fatalf("c1m.service LimitNOFILE=%q, limits.d says %s", got["LimitNOFILE"], want)
	}
	n, _ := strconv.ParseUint(want, 10, 64)
	if n < NeededNoFile(1_000_000) {
		t.Fatalf("nofile %d < %d needed for a million connections", n, NeededNoFile(1_000_000))
	}
	for _, e := range parseProfile(t, RoleServer) {
		if e.Key == "fs.nr_open" {
			nr, _ := strconv.ParseUint(e.Value, 10, 64)
			if n > nr {
				t.Fatalf("nofile %d above fs.nr_open %d: setrlimit(2) would fail", n, nr)
			}
		}
	}
	for k, v := range map[string]string{
		"ExecStart": "/usr/local/bin/c1m serve", "Restart": "on-failure", "DynamicUser": "yes",
		"NoNewPrivileges": "yes", "ProtectSystem": "strict", "ProtectHome": "yes", "PrivateTmp": "yes",
	} {
		if got[k] != v {
			t.Fatalf("c1m.service %s=%q, want %q", k, got[k], v)
		}
	}
	if got["TasksMax"] == "" {
		t.Fatalf("c1m.service has no TasksMax")
	}
}

// TestDeployCopiesIdentical: deploy/ ships the embedded profiles byte for byte.
func TestDeployCopiesIdentical(t *testing.T) {
	n := 0
	err := fs.WalkDir(Profiles(), ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		n++
		embedded, err := fs.ReadFile(Profiles(), p)
		if err != nil {
			return err
		}
		shipped, err := os.ReadFile(filepath.Join("..", "deploy", filepath.FromSlash(p)))
		if err != nil {
			t.Errorf("deploy/%s: %s", p, err)
			return nil
		}
		if !bytes.Equal(embedded, shipped) {
			t.Errorf("deploy/%s differs from sysctl/profiles/%s; copy it over", p, p)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("cannot walk the embedded profiles: %s", err)
	}
	if n != 4 {
		t.Fatalf("found %d embedded profiles, want 4", n)
	}
}

func TestParseSysctlConf(t *testing.T) {
	f := func(in string, want []Entry, wantErr bool) {
		t.Helper()
		got, err := ParseSysctlConf([]byte(in))
		if (err != nil) != wantErr {
			t.Fatalf("%q: err %v, wantErr %v", in, err, wantErr)
		}
		if len(got) != len(want) {
			t.Fatalf("%q: got %+v, want %+v", in, got, want)
		}
		for i := range want {
			if got[i] != want[i] {
				t.Fatalf("%q: got %+v, want %+v", in, got[i], want[i])
			}
		}
	}
	f("# c\n; c\n\nnet.core.somaxconn = 65535\n", []Entry{{Key: "net.core.somaxconn", Value: "65535", Line: 4}}, false)
	f("-net/netfilter/nf_conntrack_max=5\n", []Entry{{Key: "net.netfilter.nf_conntrack_max", Value: "5", IgnoreErrors: true, Line: 1}}, false)
	f("net.ipv4.tcp_rmem = 4096\t16384   4194304\n", []Entry{{Key: "net.ipv4.tcp_rmem", Value: "4096 16384 4194304", Line: 1}}, false)
	f("net.core.somaxconn\n", nil, true)
	f("= 5\n", nil, true)
}
