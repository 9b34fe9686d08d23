package sysctl

import (
	"errors"
	"strings"
	"testing"
)

func TestCheck(t *testing.T) {
	f := func(files map[string]string, conns int, role Role, key string, wantStatus Status, wantCurrent, wantNeeded string) {
		t.Helper()
		rows, err := Check(Env{Root: fakeTree(t, files), PageSize: 4096}, conns, role)
		if err != nil {
			t.Fatalf("Check: %s", err)
		}
		r := rowByKey(t, rows, key)
		if r.Status != wantStatus || r.Current != wantCurrent || r.Needed != wantNeeded {
			t.Fatalf("%s: got status %q current %q needed %q; want %q %q %q", key, r.Status, r.Current, r.Needed, wantStatus, wantCurrent, wantNeeded)
		}
		if (r.Status == StatusOK) != (r.Fix == "") {
			t.Fatalf("%s: status %q with fix %q", key, r.Status, r.Fix)
		}
		if r.Short() != (wantStatus == StatusShort) {
			t.Fatalf("%s: Short() = %v for status %q", key, r.Short(), r.Status)
		}
	}
	d := defaults()
	const m = 1_000_000

	// Lower than needed, scaled from N.
	f(d, m, RoleServer, "net.core.somaxconn", StatusShort, "4096", ">= 10000")
	f(d, 100_000, RoleServer, "net.core.somaxconn", StatusOK, "4096", ">= 1000")
	f(d, m, RoleServer, "net.ipv4.tcp_mem", StatusShort, "287898 383867 575796", ">=750000 >=1000000 >=1500000")
	// Higher than needed.
	f(with(d, "net.core.somaxconn", "65535"), m, RoleServer, "net.core.somaxconn", StatusOK, "65535", ">= 10000")
	f(d, m, RoleServer, "fs.nr_open", StatusOK, "1048576", ">= 1001024")
	f(d, 2_000_000, RoleServer, "fs.nr_open", StatusShort, "1048576", ">= 2001024")
	// Lower is better for timeouts and buffer defaults.
	f(d, m, RoleServer, "net.ipv4.tcp_fin_timeout", StatusShort, "60", "<= 30")
	f(with(d, "net.ipv4.tcp_fin_timeout", "10"), m, RoleServer, "net.ipv4.tcp_fin_timeout", StatusOK, "10", "<= 30")
	f(d, m, RoleServer, "net.ipv4.tcp_rmem", StatusShort, "4096 131072 33554432", "* <=16384 >=4194304")
	f(d, m, RoleServer, "net.ipv4.tcp_wmem", StatusOK, "4096 16384 4194304", "* <=16384 >=4194304")
	// A mode is right or wrong.
	f(d, m, RoleServer, "net.ipv4.tcp_tw_reuse", StatusShort, "2", "1")
	// Missing keys: unknown, except conntrack, which is fine when not loaded.
	f(with(d, "net.core.somaxconn", ""), m, RoleServer, "net.core.somaxconn", StatusUnknown, "absent", ">= 10000")
	f(with(d, "net.netfilter.nf_conntrack_max", ""), m, RoleServer, "net.netfilter.nf_conntrack_max", StatusOK, "not loaded", "-")
	f(d, m, RoleServer, "net.netfilter.nf_conntrack_max", StatusShort, "262144", ">= 1250000")
	// Unparsable.
	f(with(d, "fs.file-max", "lots"), m, RoleServer, "fs.file-max", StatusUnknown, "unreadable", ">= 1065536")
	// Port range for a load generator: a span, and source addresses past one range.
	f(d, m, RoleLoadgen, "net.ipv4.ip_local_port_range", StatusShort, "32768 60999", ">= 64512 ports x 16 source addresses")
	f(d, 20_000, RoleLoadgen, "net.ipv4.ip_local_port_range", StatusOK, "32768 60999", ">= 20000 ports")
	f(with(d, "net.ipv4.ip_local_port_range", "1024 65535"), m, RoleLoadgen, "net.ipv4.ip_local_port_range", StatusOK, "1024 65535", ">= 64512 ports x 16 source addresses")
	// Limits from a fake /proc/self/limits.
	f(d, m, RoleServer, "RLIMIT_NOFILE (hard)", StatusShort, "20000", ">= 1001024")
	f(d, 18_000, RoleServer, "RLIMIT_NOFILE (hard)", StatusOK, "20000", ">= 19024")
	f(with(d, "proc/self/limits", "Max open files            1024                 1048576              files"), m, RoleServer, "RLIMIT_NOFILE (hard)", StatusOK, "1048576 (soft 1024)", ">= 1001024")
	f(with(d, "proc/self/limits", ""), m, RoleServer, "RLIMIT_NOFILE (hard)", StatusUnknown, "unreadable", ">= 1001024")
	// Memory: N × (4800 + 256) B + 25 %.
	f(d, m, RoleServer, "MemAvailable", StatusOK, "23.2 GiB", ">= 5.9 GiB")
	f(d, 5_000_000, RoleServer, "MemAvailable", StatusShort, "23.2 GiB", ">= 29.4 GiB")
	// cgroup v2: the tightest limit on the way up; v1 as a fallback.
	cg := with(d, "proc/self/cgroup", "0::/system.slice/c1m.service",
		"sys/fs/cgroup/system.slice/memory.max", "4294967296",
		"sys/fs/cgroup/system.slice/c1m.service/memory.max", "max")
	f(cg, m, RoleServer, "cgroup memory.max", StatusShort, "4.0 GiB (cgroup v2)", ">= 5.9 GiB")
	f(cg, 100_000, RoleServer, "cgroup memory.max", StatusOK, "4.0 GiB (cgroup v2)", ">= 602.7 MiB")
	f(with(d, "sys/fs/cgroup/memory.max", "max"), m, RoleServer, "cgroup memory.max", StatusOK, "max (cgroup v2)", ">= 5.9 GiB")
	f(with(d, "proc/self/cgroup", "4:memory:/docker/abc\n0::/",
		"sys/fs/cgroup/memory/docker/abc/memory.limit_in_bytes", "9223372036854771712"), m, RoleServer, "cgroup memory.max", StatusOK, "max (cgroup v1)", ">= 5.9 GiB")
	f(d, m, RoleServer, "cgroup memory.max", StatusOK, "no limit file", ">= 5.9 GiB")
}

func TestCheckRoles(t *testing.T) {
	f := func(role Role, key string, want bool) {
		t.Helper()
		rows, err := Check(Env{Root: fakeTree(t, defaults())}, 1000, role)
		if err != nil {
			t.Fatalf("Check: %s", err)
		}
		got := false
		for _, r := range rows {
			got = got || r.Key == key
		}
		if got != want {
			t.Fatalf("role %s: row %s present = %v, want %v", role, key, got, want)
		}
	}
	f(RoleServer, "net.core.somaxconn", true)
	f(RoleLoadgen, "net.core.somaxconn", false)
	f(RoleServer, "net.ipv4.ip_local_port_range", false)
	f(RoleLoadgen, "net.ipv4.ip_local_port_range", true)
	f(RoleLoadgen, "RLIMIT_NOFILE (hard)", true)
}

func TestCheckBadArgs(t *testing.T) {
	f := func(conns int, role Role, want error) {
		t.Helper()
		if _, err := Check(Env{Root: t.TempDir()}, conns, role); !errors.Is(err, want) {
			t.Fatalf("Check(%d, %q): got %v, want %v", conns, role, err, want)
		}
	}
	f(1000, "proxy", ErrUnknownRole)
	f(0, RoleServer, ErrBadConns)
	f(-1, RoleLoadgen, ErrBadConns)
}

func TestCheckFakeNoFile(t *testing.T) {
	rows, err := Check(Env{Root: fakeTree(t, defaults()), NoFile: &Rlimit{Cur: 2_000_000, Max: rlimInfinity}}, 1_000_000, RoleServer)
	if err != nil {
		t.Fatalf("Check: %s", err)
	}
	r := rowByKey(t, rows, "RLIMIT_NOFILE (hard)")
	if r.Status != StatusOK || r.Current != "unlimited (soft 2000000)" {
		t.Fatalf("got %+v", r)
	}
}

// TestFixNamesTheRoleChecked: a key both profiles carry is fixed with the
// profile of the box being checked.
func TestFixNamesTheRoleChecked(t *testing.T) {
	for _, s := range specs {
		if s.hasRole(RoleServer) && s.hasRole(RoleLoadgen) {
			if got := s.fix([]int64{1}, RoleLoadgen); !strings.Contains(got, "--role loadgen") {
				t.Fatalf("%s on a loadgen box: %q, want --role loadgen", s.key, got)
			}
			if got := s.fix([]int64{1}, RoleServer); !strings.Contains(got, "--role server") {
				t.Fatalf("%s on a server box: %q, want --role server", s.key, got)
			}
			return
		}
	}
	t.Fatal("no key is in both profiles: the test has nothing to check")
}
