package sysctl

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// fakeTree builds a directory standing for "/" with the given files. Keys
// with dots ("net.core.somaxconn") go under proc/sys; other names are
// paths relative to the root ("proc/meminfo").
func fakeTree(t *testing.T, files map[string]string) string {
	t.Helper()
	root := t.TempDir()
	for name, content := range files {
		p := name
		if !strings.Contains(name, "/") {
			p = "proc/sys/" + strings.ReplaceAll(name, ".", "/")
		}
		p = filepath.Join(root, p)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatalf("cannot create %s: %s", filepath.Dir(p), err)
		}
		if err := os.WriteFile(p, []byte(content+"\n"), 0o644); err != nil {
			t.Fatalf("cannot write %s: %s", p, err)
		}
	}
	return root
}

// defaults is a stock kernel as found on this box, before tuning.
func defaults() map[string]string {
	return map[string]string{
		"fs.file-max":                    "2466170",
		"fs.nr_open":                     "1048576",
		"net.core.somaxconn":             "4096",
		"net.ipv4.tcp_max_syn_backlog":   "2048",
		"net.core.netdev_max_backlog":    "1000",
		"net.ipv4.tcp_rmem":              "4096\t131072\t33554432",
		"net.ipv4.tcp_wmem":              "4096\t16384\t4194304",
		"net.ipv4.tcp_mem":               "287898\t383867\t575796",
		"net.netfilter.nf_conntrack_max": "262144",
		"net.ipv4.tcp_fin_timeout":       "60",
		"net.ipv4.tcp_tw_reuse":          "2",
		"net.ipv4.tcp_keepalive_time":    "7200",
		"net.ipv4.tcp_keepalive_intvl":   "75",
		"net.ipv4.tcp_keepalive_probes":  "9",
		"net.ipv4.ip_local_port_range":   "32768\t60999",
		"net.ipv4.tcp_ehash_entries":     "262144",
		"proc/meminfo":                   "MemTotal:       24684084 kB\nMemFree:        24069912 kB\nMemAvailable:   24364136 kB",
		"proc/self/limits":               "Limit                     Soft Limit           Hard Limit           Units\nMax open files            20000                20000                files",
	}
}

func with(m map[string]string, kv ...string) map[string]string {
	out := map[string]string{}
	for k, v := range m {
		out[k] = v
	}
	for i := 0; i+1 < len(kv); i += 2 {
		if kv[i+1] == "" {
			delete(out, kv[i])
			continue
		}
		out[kv[i]] = kv[i+1]
	}
	return out
}

func rowByKey(t *testing.T, rows []Row, key string) Row {
	t.Helper()
	for _, r := range rows {
		if r.Key == key {
			return r
		}
	}
	t.Fatalf("no row %q in %+v", key, rows)
	return Row{}
}
