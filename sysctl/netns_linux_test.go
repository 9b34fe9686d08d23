//go:build linux

package sysctl

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// The netns test runs Apply for real against the kernel, in a child process
// that unshare(1) puts in a new network namespace and a new mount
// namespace. net.* keys there are private to the child (network_namespaces(7));
// fs.* keys are global, so the child first bind-mounts /proc/sys/fs
// read-only in its own mount namespace, as container runtimes do, and
// proves the mount holds before it applies anything. Nothing the child does
// reaches the real machine.

const (
	netnsChildEnv  = "C1M_SYSCTL_NETNS_CHILD"
	netnsParentNet = "C1M_SYSCTL_PARENT_NETNS"
	netnsParentMnt = "C1M_SYSCTL_PARENT_MNTNS"
	netnsDirEnv    = "C1M_SYSCTL_NETNS_DIR"
	netnsMarker    = "NETNS-RESULTS: "
)

func TestApplyInNetns(t *testing.T) {
	unshare, err := exec.LookPath("unshare")
	if err != nil {
		t.Fatalf("unshare(1) from util-linux is required for this test and was not found: %s", err)
	}
	before, err := Env{}.readKey("net.core.somaxconn")
	if err != nil {
		t.Fatalf("cannot read the real net.core.somaxconn: %s", err)
	}
	cmd := exec.Command(unshare, "--net", "--mount", "--propagation", "private", "--",
		os.Args[0], "-test.run=^TestApplyInNetnsChild$", "-test.v", "-test.count=1")
	cmd.Env = append(os.Environ(),
		netnsChildEnv+"=1",
		netnsParentNet+"="+nsID(t, "net"),
		netnsParentMnt+"="+nsID(t, "mnt"),
		netnsDirEnv+"="+t.TempDir(),
	)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("child under unshare failed: %s\n%s", err, out)
	}
	var res []Result
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		if js, ok := strings.CutPrefix(sc.Text(), netnsMarker); ok {
			if err := json.Unmarshal([]byte(js), &res); err != nil {
				t.Fatalf("cannot parse the child's results: %s", err)
			}
		}
	}
	if res == nil {
		t.Fatalf("child printed no results:\n%s", out)
	}
	got := map[string]Result{}
	for _, r := range res {
		got[r.Key] = r
		t.Logf("%-32s %-24s %-24s %-10s %s", r.Key, r.Old, r.New, r.Outcome, r.Why)
	}
	if r := got["net.core.somaxconn"]; r.Outcome != Applied || r.New != "65535" {
		t.Fatalf("net.core.somaxconn in the netns: %+v, want applied 65535", r)
	}
	if r := got["fs.nr_open"]; r.Outcome != Refused || !strings.Contains(r.Why, "read-only") {
		t.Fatalf("fs.nr_open: %+v, want refused as read-only", r)
	}
	if r := got["fs.file-max"]; r.Outcome != Refused && r.Outcome != Unchanged {
		t.Fatalf("fs.file-max: %+v, want refused or unchanged", r)
	}
	after, err := Env{}.readKey("net.core.somaxconn")
	if err != nil {
		t.Fatalf("cannot read the real net.core.somaxconn: %s", err)
	}
	if formatFields(after) != formatFields(before) {
		t.Fatalf("the real net.core.somaxconn changed from %v to %v", before, after)
	}
}

// TestApplyInNetnsChild is the child half of TestApplyInNetns; it does
// nothing unless started by it.
func TestApplyInNetnsChild(t *testing.T) {
	if os.Getenv(netnsChildEnv) != "1" {
		t.Skip("runs only as the child of TestApplyInNetns")
	}
	// Refuse to go on unless both namespaces are new: otherwise the writes
	// below would reach the real machine.
	if nsID(t, "net") == os.Getenv(netnsParentNet) {
		t.Fatalf("not in a new network namespace")
	}
	if nsID(t, "mnt") == os.Getenv(netnsParentMnt) {
		t.Fatalf("not in a new mount namespace")
	}
	const fsDir = "/proc/sys/fs"
	if err := unix.Mount(fsDir, fsDir, "", unix.MS_BIND, ""); err != nil {
		t.Fatalf("cannot bind-mount %s: %s", fsDir, err)
	}
	if err := unix.Mount("", fsDir, "", unix.MS_REMOUNT|unix.MS_BIND|unix.MS_RDONLY, ""); err != nil {
		t.Fatalf("cannot remount %s read-only: %s", fsDir, err)
	}
	// Prove the mount holds by writing the value already there: harmless
	// if it were to succeed, and then we stop.
	cur, err := os.ReadFile(fsDir + "/nr_open")
	if err != nil {
		t.Fatalf("cannot read fs.nr_open: %s", err)
	}
	if err := (Env{}).writeFile(fsDir+"/nr_open", cur); !errors.Is(err, unix.EROFS) {
		t.Fatalf("writing fs.nr_open in the child gave %v, want EROFS; not applying", err)
	}

	dir := os.Getenv(netnsDirEnv)
	orig, err := Env{}.readKey("net.core.somaxconn")
	if err != nil {
		t.Fatalf("cannot read net.core.somaxconn: %s", err)
	}
	res, err := Apply(Env{}, ApplyOptions{Role: RoleServer, Dir: dir})
	if err != nil {
		t.Fatalf("Apply: %s", err)
	}
	js, err := json.Marshal(res)
	if err != nil {
		t.Fatalf("cannot encode results: %s", err)
	}
	os.Stdout.WriteString(netnsMarker + string(js) + "\n")

	// Revert restores the netns's own defaults; refused keys were never
	// changed, so there is nothing of theirs to restore.
	if rres, err := Revert(Env{}, dir); err != nil {
		t.Fatalf("Revert: %s (%+v)", err, rres)
	}
	if got, _ := (Env{}).readKey("net.core.somaxconn"); formatFields(got) != formatFields(orig) {
		t.Fatalf("after Revert net.core.somaxconn = %v, want %v", got, orig)
	}
}

func nsID(t *testing.T, ns string) string {
	t.Helper()
	id, err := os.Readlink("/proc/self/ns/" + ns)
	if err != nil {
		t.Fatalf("cannot read the %s namespace: %s", ns, err)
	}
	return id
}
