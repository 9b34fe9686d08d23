package sysctl

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// refusingWriter fails writes to the listed keys with the given errno, as
// a read-only or foreign /proc/sys would; root ignores file modes, so a
// chmod cannot fake this.
func refusingWriter(root string, refuse map[string]syscall.Errno) func(string, []byte) error {
	return func(path string, data []byte) error {
		for key, errno := range refuse {
			if path == filepath.Join(root, "proc/sys", strings.ReplaceAll(key, ".", "/")) {
				return &fs.PathError{Op: "open", Path: path, Err: errno}
			}
		}
		return Env{}.writeFile(path, data)
	}
}

func readTree(t *testing.T, root, key string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(root, "proc/sys", strings.ReplaceAll(key, ".", "/")))
	if err != nil {
		t.Fatalf("cannot read %s: %s", key, err)
	}
	return strings.Join(strings.Fields(string(b)), " ")
}

func TestApplyAndRevert(t *testing.T) {
	files := with(defaults(),
		"net.core.somaxconn", "131072", // higher than the profile: must stay
		"net.ipv4.tcp_fin_timeout", "10", // lower than the profile, and lower is better: must stay
		"net.netfilter.nf_conntrack_max", "", // conntrack not loaded
	)
	root := fakeTree(t, files)
	dir := filepath.Join(t.TempDir(), "sysctl.d")
	env := Env{Root: root, WriteFile: refusingWriter(root, map[string]syscall.Errno{
		"fs.nr_open":  syscall.EROFS,
		"fs.file-max": syscall.EPERM,
	}), NoFile: &Rlimit{Cur: 20000, Max: 20000}, SetNoFile: func(Rlimit) error { return syscall.EPERM }}

	res, err := Apply(env, ApplyOptions{Role: RoleServer, Dir: dir})
	if err != nil {
		t.Fatalf("Apply: %s", err)
	}
	got := map[string]Result{}
	for _, r := range res {
		got[r.Key] = r
	}
	f := func(key string, want Outcome, wantNew, wantWhy string) {
		t.Helper()
		r, ok := got[key]
		if !ok {
			t.Fatalf("no result for %s in %+v", key, res)
		}
		if r.Outcome != want || r.New != wantNew || !strings.Contains(r.Why, wantWhy) {
			t.Fatalf("%s: got %+v; want outcome %q new %q why containing %q", key, r, want, wantNew, wantWhy)
		}
	}
	f("fs.nr_open", Refused, "2097152", "read-only")
	f("fs.file-max", Refused, "4194304", "not permitted")
	f("net.netfilter.nf_conntrack_max", Refused, "", "absent on this kernel")
	f("net.core.somaxconn", Unchanged, "131072", "already")
	f("net.ipv4.tcp_max_syn_backlog", Applied, "65535", "")
	f("net.ipv4.tcp_rmem", Applied, "4096 16384 33554432", "") // default lowered, higher max kept
	f("net.ipv4.tcp_wmem", Unchanged, "4096 16384 4194304", "already")
	f("net.ipv4.tcp_mem", Applied, "786432 1048576 1572864", "")
	f("net.ipv4.tcp_tw_reuse", Applied, "1", "")
	f("net.ipv4.tcp_fin_timeout", Unchanged, "10", "already")
	f("RLIMIT_NOFILE (hard)", Refused, "1048576", "CAP_SYS_RESOURCE")
	conf := filepath.Join(dir, SysctlProfileName(RoleServer))
	f(conf, Applied, "", "wrote")

	if v := readTree(t, root, "net.ipv4.tcp_rmem"); v != "4096 16384 33554432" {
		t.Fatalf("tcp_rmem in the tree: %q", v)
	}
	if v := readTree(t, root, "net.core.somaxconn"); v != "131072" {
		t.Fatalf("somaxconn lowered to %q", v)
	}
	// The installed file keeps the better live values, so a reboot does not lower them.
	b, err := os.ReadFile(conf)
	if err != nil {
		t.Fatalf("cannot read the installed profile: %s", err)
	}
	entries, err := ParseSysctlConf(b)
	if err != nil {
		t.Fatalf("installed profile does not parse: %s", err)
	}
	installed := map[string]string{}
	for _, e := range entries {
		installed[e.Key] = e.Value
	}
	for key, want := range map[string]string{
		"net.core.somaxconn":             "131072",
		"net.ipv4.tcp_rmem":              "4096 16384 33554432",
		"net.ipv4.tcp_fin_timeout":       "10",
		"fs.nr_open":                     "2097152",
		"net.netfilter.nf_conntrack_max": "1310720",
	} {
		if installed[key] != want {
			t.Fatalf("installed %s = %q, want %q", key, installed[key], want)
		}
	}

	// A second apply changes nothing and keeps the original backup.
	res2, err := Apply(env, ApplyOptions{Role: RoleServer, Dir: dir})
	if err != nil {
		t.Fatalf("second Apply: %s", err)
	}
	for _, r := range res2 {
		if r.Outcome == Applied {
			t.Fatalf("second Apply changed %+v", r)
		}
	}

	// Revert restores the originals, lower or not, and removes the file.
	rres, err := Revert(env, dir)
	if err != nil {
		t.Fatalf("Revert: %s (%+v)", err, rres)
	}
	for _, key := range []string{"net.ipv4.tcp_rmem", "net.ipv4.tcp_mem", "net.ipv4.tcp_tw_reuse", "net.ipv4.tcp_fin_timeout", "net.ipv4.tcp_max_syn_backlog"} {
		want := strings.Join(strings.Fields(files[key]), " ")
		if v := readTree(t, root, key); v != want {
			t.Fatalf("after Revert %s = %q, want %q", key, v, want)
		}
	}
	if _, err := os.Stat(conf); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("Revert left %s: %v", conf, err)
	}
	if _, err := os.Stat(filepath.Join(dir, BackupName)); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("Revert left the backup: %v", err)
	}
	if _, err := Revert(env, dir); !errors.Is(err, ErrNoBackup) {
		t.Fatalf("second Revert: got %v, want ErrNoBackup", err)
	}
}

func TestApplyRestoresPreviousFile(t *testing.T) {
	root := fakeTree(t, defaults())
	dir := t.TempDir()
	conf := filepath.Join(dir, SysctlProfileName(RoleLoadgen))
	const previous = "net.ipv4.ip_local_port_range = 2000 3000\n"
	if err := os.WriteFile(conf, []byte(previous), 0o644); err != nil {
		t.Fatal(err)
	}
	env := Env{Root: root}
	if _, err := Apply(env, ApplyOptions{Role: RoleLoadgen, Dir: dir}); err != nil {
		t.Fatalf("Apply: %s", err)
	}
	if v := readTree(t, root, "net.ipv4.ip_local_port_range"); v != "1024 65535" {
		t.Fatalf("port range %q", v)
	}
	if _, err := Revert(env, dir); err != nil {
		t.Fatalf("Revert: %s", err)
	}
	b, err := os.ReadFile(conf)
	if err != nil || string(b) != previous {
		t.Fatalf("Revert restored %q, %v; want %q", b, err, previous)
	}
	if v := readTree(t, root, "net.ipv4.ip_local_port_range"); v != "32768 60999" {
		t.Fatalf("port range after Revert %q", v)
	}
}

func TestApplyDryRunWritesNothing(t *testing.T) {
	root := fakeTree(t, defaults())
	dir := filepath.Join(t.TempDir(), "sysctl.d")
	res, err := Apply(Env{Root: root}, ApplyOptions{Role: RoleServer, Dir: dir, DryRun: true})
	if err != nil {
		t.Fatalf("Apply: %s", err)
	}
	would := 0
	for _, r := range res {
		if r.Outcome == Applied {
			t.Fatalf("dry run applied %+v", r)
		}
		if r.Outcome == WouldApply {
			would++
		}
	}
	if would == 0 {
		t.Fatalf("dry run would apply nothing: %+v", res)
	}
	if v := readTree(t, root, "net.core.somaxconn"); v != "4096" {
		t.Fatalf("dry run wrote somaxconn %q", v)
	}
	if _, err := os.Stat(dir); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("dry run created %s: %v", dir, err)
	}
}

func TestApplyNoFileUnderFakeRoot(t *testing.T) {
	f := func(env Env, want Outcome, wantWhy string) {
		t.Helper()
		r := env.applyNoFile(false)
		if r.Outcome != want || !strings.Contains(r.Why, wantWhy) {
			t.Fatalf("got %+v, want %q with %q", r, want, wantWhy)
		}
	}
	root := fakeTree(t, defaults())
	f(Env{Root: root}, Refused, "never set")
	f(Env{Root: root, SetNoFile: func(Rlimit) error { return nil }}, Applied, "this process only")
	f(Env{Root: root, SetNoFile: func(Rlimit) error { return syscall.EPERM }}, Refused, "not permitted")
	f(Env{Root: root, NoFile: &Rlimit{Cur: 1 << 21, Max: 1 << 21}}, Unchanged, "already")
}
