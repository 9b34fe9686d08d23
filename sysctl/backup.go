package sysctl

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// BackupName is the file in the apply directory that remembers what Apply
// replaced. It does not end in ".conf", so systemd-sysctl and
// `sysctl --system` ignore it (sysctl.d(5)).
const BackupName = ".c1m-sysctl-backup.json"

// backup is what Apply replaced: the value each key had before the first
// Apply, and each file's content before it was installed. A second Apply
// keeps the first one's values, so Revert goes back to the original box.
type backup struct {
	Keys  []savedKey  `json:"keys"`
	Files []savedFile `json:"files"`
}

type savedKey struct {
	Key string `json:"key"`
	Old string `json:"old"`
}

type savedFile struct {
	Path    string `json:"path"`
	Existed bool   `json:"existed"`
	Content string `json:"content,omitempty"`
}

func loadBackup(dir string) (backup, error) {
	var b backup
	data, err := os.ReadFile(filepath.Join(dir, BackupName))
	if errors.Is(err, fs.ErrNotExist) {
		return b, nil
	}
	if err != nil {
		return b, fmt.Errorf("cannot read the backup: %w", err)
	}
	if err := json.Unmarshal(data, &b); err != nil {
		return b, fmt.Errorf("cannot parse the backup %s: %w", filepath.Join(dir, BackupName), err)
	}
	return b, nil
}

func (b backup) empty() bool { return len(b.Keys) == 0 && len(b.Files) == 0 }

// save writes the backup, or removes it once nothing is left to restore.
func (b backup) save(dir string) error {
	path := filepath.Join(dir, BackupName)
	if b.empty() {
		if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("cannot remove the backup: %w", err)
		}
		return nil
	}
	data, err := json.MarshalIndent(b, "", "  ")
	if err != nil {
		return fmt.Errorf("cannot encode the backup: %w", err)
	}
	return writeFileAtomic(path, append(data, '\n'), 0o600)
}

func (b *backup) addKey(key, old string) {
	for _, k := range b.Keys {
		if k.Key == key {
			return
		}
	}
	b.Keys = append(b.Keys, savedKey{Key: key, Old: old})
}

func (b *backup) dropKey(key string) {
	for i, k := range b.Keys {
		if k.Key == key {
			b.Keys = append(b.Keys[:i], b.Keys[i+1:]...)
			return
		}
	}
}

func (b *backup) addFile(path string, existed bool, content []byte) {
	for _, f := range b.Files {
		if f.Path == path {
			return
		}
	}
	b.Files = append(b.Files, savedFile{Path: path, Existed: existed, Content: string(content)})
}

func (b *backup) dropFile(path string) {
	for i, f := range b.Files {
		if f.Path == path {
			b.Files = append(b.Files[:i], b.Files[i+1:]...)
			return
		}
	}
}

// Revert restores what Apply replaced in dir ("" means DefaultDir under
// env.Root): each key's original value, lower or not, and each file's
// original content (or its absence). What cannot be restored stays in the
// backup for the next try; the backup goes once everything is restored.
// It returns ErrNoBackup when there is nothing to revert. A key need not be
// in today's profile: a backup an older c1m wrote may hold keys the profile
// has since dropped (net.ipv4.tcp_keepalive_*), and those are restored too.
func Revert(env Env, dir string) ([]Result, error) {
	if dir == "" {
		dir = env.path(DefaultDir)
	}
	b, err := loadBackup(dir)
	if err != nil {
		return nil, err
	}
	if b.empty() {
		return nil, fmt.Errorf("%w in %s", ErrNoBackup, dir)
	}
	var out []Result
	var left backup
	for _, k := range b.Keys {
		r := Result{Key: k.Key, New: k.Old}
		cur, err := env.readKey(k.Key)
		if err == nil {
			r.Old = formatFields(cur)
		}
		old, perr := parseFields(k.Old)
		switch {
		case perr != nil:
			r.Outcome, r.Why = Refused, fmt.Sprintf("the backup holds a bad value %q", k.Old)
		case err == nil && r.Old == k.Old:
			r.Outcome, r.Why = Unchanged, "already at the backed-up value"
		default:
			r = env.writeKey(k.Key, r.Old, old)
		}
		if r.Outcome == Refused {
			left.Keys = append(left.Keys, k)
		}
		out = append(out, r)
	}
	for _, f := range b.Files {
		r := Result{Key: f.Path, Outcome: Applied}
		var err error
		if f.Existed {
			err = writeFileAtomic(f.Path, []byte(f.Content), 0o644)
			r.Why = "restored the previous file"
		} else {
			err = os.Remove(f.Path)
			if errors.Is(err, fs.ErrNotExist) {
				err = nil
			}
			r.Why = "removed; there was no file before"
		}
		if err != nil {
			r.Outcome, r.Why = Refused, err.Error()
			left.Files = append(left.Files, f)
		}
		out = append(out, r)
	}
	if err := left.save(dir); err != nil {
		return out, err
	}
	return out, nil
}
