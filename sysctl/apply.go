package sysctl

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
)

// Outcome is what Apply or Revert did with one key.
type Outcome string

// The outcomes of a Result.
const (
	Applied    Outcome = "applied"     // the value was written
	Unchanged  Outcome = "unchanged"   // the live value was already as good
	Refused    Outcome = "refused"     // the kernel or the box said no; Why says why
	WouldApply Outcome = "would apply" // a dry run would have written it
)

// Result is the report on one key or file. A Result is a plain value.
type Result struct {
	Key     string  `json:"key"`
	Old     string  `json:"old,omitempty"`
	New     string  `json:"new,omitempty"`
	Outcome Outcome `json:"outcome"`
	Why     string  `json:"why,omitempty"`
}

// DefaultDir is where Apply installs the sysctl.d profile on a real box;
// systemd-sysctl and `sysctl --system` read it at boot (sysctl.d(5)).
const DefaultDir = "/etc/sysctl.d"

// ApplyOptions says what Apply tunes and where it writes.
type ApplyOptions struct {
	// Role picks the profile: 60-c1m-server.conf or 60-c1m-loadgen.conf.
	Role Role
	// Dir receives the sysctl.d file and the backup. Empty means
	// DefaultDir under env.Root.
	Dir string
	// DryRun reads and reports but writes nothing.
	DryRun bool
}

func (o ApplyOptions) dir(env Env) string {
	if o.Dir != "" {
		return o.Dir
	}
	return env.path(DefaultDir)
}

// Apply sets each key of the role's profile through /proc/sys under env,
// raises this process's open-files limit to the limits.d profile's, and
// installs the profile in opts.Dir. It never loosens a value that is
// already better in its direction (a capacity already higher, a timeout
// already shorter), and it goes on past a refused key, reporting every key
// as applied, unchanged or refused. What it replaced goes to a backup in
// opts.Dir that Revert restores. The error is for failures that stop the
// run (bad role, unwritable backup); results gathered so far come with it.
func Apply(env Env, opts ApplyOptions) ([]Result, error) {
	p, err := plan(env, opts.Role)
	if err != nil {
		return nil, err
	}
	dir := opts.dir(env)
	var b backup
	if !opts.DryRun {
		if b, err = loadBackup(dir); err != nil {
			return nil, err
		}
		for _, k := range p.keys {
			if k.result.Outcome == WouldApply {
				b.addKey(k.spec.key, k.result.Old)
			}
		}
		if err := b.save(dir); err != nil {
			return nil, err
		}
	}
	var out []Result
	for _, k := range p.keys {
		r := k.result
		if r.Outcome == WouldApply && !opts.DryRun {
			r = env.writeKey(k.spec.key, r.Old, k.merged)
			if r.Outcome != Applied {
				b.dropKey(k.spec.key)
			}
		}
		out = append(out, r)
	}
	out = append(out, env.applyNoFile(opts.DryRun))

	fr := installFile(filepath.Join(dir, SysctlProfileName(opts.Role)), p.rendered, opts.DryRun, &b)
	out = append(out, fr)
	if !opts.DryRun {
		if err := b.save(dir); err != nil {
			return out, err
		}
	}
	return out, nil
}

// RenderProfile returns the sysctl.d file Apply would install for role
// under env: the profile, with the live value kept where it is better.
func RenderProfile(env Env, role Role) ([]byte, error) {
	p, err := plan(env, role)
	if err != nil {
		return nil, err
	}
	return p.rendered, nil
}

// plannedKey is one profile key with its live and target values.
type plannedKey struct {
	spec   spec
	merged []int64
	result Result // Unchanged, Refused, or WouldApply with Old and New
}

type applyPlan struct {
	keys     []plannedKey
	rendered []byte
}

// plan reads every key of role's profile and decides, without writing,
// what Apply would do with it.
func plan(env Env, role Role) (applyPlan, error) {
	data, err := SysctlProfile(role)
	if err != nil {
		return applyPlan{}, err
	}
	entries, err := ParseSysctlConf(data)
	if err != nil {
		return applyPlan{}, fmt.Errorf("cannot parse %s: %w", SysctlProfileName(role), err)
	}
	var p applyPlan
	kept := map[string]string{}
	for _, e := range entries {
		s, ok := lookup(e.Key)
		if !ok {
			return applyPlan{}, fmt.Errorf("%w: %s", ErrUnknownKey, e.Key)
		}
		want, err := parseFields(e.Value)
		if err != nil || len(want) != len(s.dirs) {
			return applyPlan{}, fmt.Errorf("%w %d: %s = %s", ErrBadProfile, e.Line, e.Key, e.Value)
		}
		k := plannedKey{spec: s, result: Result{Key: e.Key}}
		cur, err := env.readKey(e.Key)
		switch {
		case err != nil:
			k.result.Outcome, k.result.Why = Refused, refusal(err, s)
		case len(cur) != len(want):
			k.result.Old, k.result.Outcome = formatFields(cur), Refused
			k.result.Why = fmt.Sprintf("the kernel shows %d field(s), the profile %d", len(cur), len(want))
		default:
			k.merged = s.merge(cur, want)
			k.result.Old, k.result.New = formatFields(cur), formatFields(k.merged)
			k.result.Outcome = WouldApply
			if k.result.Old == k.result.New {
				k.result.Outcome, k.result.Why = Unchanged, "already as good as the profile"
			}
			if formatFields(k.merged) != formatFields(want) {
				kept[e.Key] = formatFields(k.merged)
			}
		}
		p.keys = append(p.keys, k)
	}
	p.rendered = rewriteSysctlConf(data, entries, kept)
	return p, nil
}

// writeKey writes v to key and reads it back: the kernel may clamp.
func (e Env) writeKey(key, old string, v []int64) Result {
	r := Result{Key: key, Old: old, New: formatFields(v)}
	s, _ := lookup(key)
	if err := e.writeFile(e.keyPath(key), []byte(formatFields(v)+"\n")); err != nil {
		r.Outcome, r.Why = Refused, refusal(err, s)
		return r
	}
	r.Outcome = Applied
	got, err := e.readKey(key)
	if err != nil {
		r.Why = fmt.Sprintf("written, but cannot read it back: %v", err)
		return r
	}
	r.New = formatFields(got)
	if r.New != formatFields(v) {
		r.Why = "the kernel stored " + r.New + " instead of " + formatFields(v)
	}
	return r
}

// refusal says in a few words why a key could not be read or written.
func refusal(err error, s spec) string {
	switch {
	case errors.Is(err, fs.ErrNotExist) && s.optional:
		return "absent on this kernel (its module is not loaded; nothing to do)"
	case errors.Is(err, fs.ErrNotExist):
		return "absent here: not on this kernel, or not in this network namespace"
	case errors.Is(err, syscall.EROFS):
		return "read-only: /proc/sys is mounted read-only here, as in most containers"
	case errors.Is(err, fs.ErrPermission):
		return "not permitted: the key belongs to the host, not to this container or namespace"
	case errors.Is(err, syscall.EINVAL):
		return "the kernel rejected the value"
	}
	return err.Error()
}

// applyNoFile raises this process's RLIMIT_NOFILE to the limits.d
// profile's value. It is a probe as much as a fix: the limit of a service
// comes from LimitNOFILE= in its unit, not from this process.
func (e Env) applyNoFile(dryRun bool) Result {
	r := Result{Key: "RLIMIT_NOFILE (hard)"}
	target, err := profileNoFile()
	if err != nil {
		r.Outcome, r.Why = Refused, err.Error()
		return r
	}
	r.New = formatLimit(target)
	cur, err := e.noFile()
	if err != nil {
		r.Outcome, r.Why = Refused, err.Error()
		return r
	}
	r.Old = formatLimit(cur.Max)
	switch {
	case cur.Max >= target:
		r.New, r.Outcome, r.Why = r.Old, Unchanged, "already as good as the profile"
	case dryRun:
		r.Outcome = WouldApply
	default:
		err := e.setNoFile(Rlimit{Cur: target, Max: target})
		switch {
		case err == nil:
			r.Outcome = Applied
			r.Why = "for this process only: a service gets it from LimitNOFILE= in c1m.service, a login shell from limits.d/c1m.conf"
		case errors.Is(err, ErrFakeLimits):
			r.Outcome, r.Why = Refused, "limits under a fake root are read, never set"
		case errors.Is(err, fs.ErrPermission):
			r.Outcome = Refused
			r.Why = "not permitted: raising the hard limit needs CAP_SYS_RESOURCE (setrlimit(2)); set LimitNOFILE= in c1m.service"
		default:
			r.Outcome, r.Why = Refused, err.Error()
		}
	}
	return r
}

// installFile writes content to path unless it is already there, saving
// what it replaces in b.
func installFile(path string, content []byte, dryRun bool, b *backup) Result {
	r := Result{Key: path}
	old, err := os.ReadFile(path)
	existed := err == nil
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		r.Outcome, r.Why = Refused, err.Error()
		return r
	}
	switch {
	case existed && string(old) == string(content):
		r.Outcome, r.Why = Unchanged, "already installed"
		return r
	case dryRun:
		r.Outcome, r.Why = WouldApply, fmt.Sprintf("would write %d bytes", len(content))
		return r
	}
	b.addFile(path, existed, old)
	if err := writeFileAtomic(path, content, 0o644); err != nil {
		b.dropFile(path)
		r.Outcome, r.Why = Refused, err.Error()
		return r
	}
	r.Outcome, r.Why = Applied, fmt.Sprintf("wrote %d bytes", len(content))
	return r
}

// writeFileAtomic writes via a temporary file and rename(2), so a reader
// (systemd-sysctl at boot) never sees half a file.
func writeFileAtomic(path string, data []byte, perm os.FileMode) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("cannot create %s: %w", dir, err)
	}
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return fmt.Errorf("cannot create a temporary file in %s: %w", dir, err)
	}
	tmp := f.Name()
	_, err = f.Write(data)
	if err == nil {
		err = f.Chmod(perm)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("cannot write %s: %w", path, err)
	}
	return nil
}
