package sysctl

import (
	"fmt"
	"strconv"
	"strings"
)

// dir says in which direction a field of a key is better.
type dir int8

const (
	dirAny     dir = iota // any value will do; apply writes the profile's
	dirAtLeast            // a capacity: higher is better, never lowered
	dirAtMost             // a timeout or a default: lower is better, never raised
	dirExact              // a mode switch: only the one value will do
)

// spec is one row of the checker's table: a /proc/sys key, which roles
// need it, which way each of its fields is better and, from N, how much.
type spec struct {
	key   string
	roles []Role
	dirs  []dir
	// need returns one needed value per field for n connections.
	need func(n, pageSize int) []int64
	// optional keys exist only with a module loaded; absent means ok.
	optional bool
	// judge replaces the per-field comparison for keys whose fields are
	// needed together (a port range needs a span, not two bounds).
	judge func(cur []int64, n int) (ok bool, needed string)
}

var (
	both       = []Role{RoleServer, RoleLoadgen}
	serverOnly = []Role{RoleServer}
	loadgen    = []Role{RoleLoadgen}
)

func fixed(v ...int64) func(int, int) []int64 {
	return func(int, int) []int64 { return v }
}

// specs is the checker's table, in the order rows are printed. Every key
// in every sysctl profile must be here (TestProfileKeysInTable).
//
// Only keys that act on c1m's sockets belong here, since `c1m serve` warns
// about every short row at start. net.ipv4.tcp_keepalive_* are not: they
// act only on sockets with SO_KEEPALIVE, which c1m's client sockets do not
// set (the WebSocket heartbeat finds dead peers), and Go's own listeners set
// their timers per socket (net.KeepAliveConfig). Revert restores any key a
// backup holds, in the table or not, so it still undoes an older Apply that
// set them.
var specs = []spec{
	{key: "fs.nr_open", roles: both, dirs: []dir{dirAtLeast},
		need: func(n, _ int) []int64 { return []int64{int64(NeededNoFile(n))} }},
	{key: "fs.file-max", roles: both, dirs: []dir{dirAtLeast},
		need: func(n, _ int) []int64 { return []int64{int64(n) + FileMaxReserve} }},
	{key: "net.core.somaxconn", roles: serverOnly, dirs: []dir{dirAtLeast},
		need: func(n, _ int) []int64 { return []int64{max(burst(n), 128)} }},
	{key: "net.ipv4.tcp_max_syn_backlog", roles: serverOnly, dirs: []dir{dirAtLeast},
		need: func(n, _ int) []int64 { return []int64{max(burst(n), 128)} }},
	{key: "net.core.netdev_max_backlog", roles: serverOnly, dirs: []dir{dirAtLeast},
		need: func(n, _ int) []int64 { return []int64{max(burst(n), 1000)} }},
	{key: "net.ipv4.tcp_rmem", roles: serverOnly, dirs: []dir{dirAny, dirAtMost, dirAtLeast},
		need: fixed(4096, 16384, 4194304)},
	{key: "net.ipv4.tcp_wmem", roles: serverOnly, dirs: []dir{dirAny, dirAtMost, dirAtLeast},
		need: fixed(4096, 16384, 4194304)},
	{key: "net.ipv4.tcp_mem", roles: serverOnly, dirs: []dir{dirAtLeast, dirAtLeast, dirAtLeast},
		need: func(n, page int) []int64 {
			p := tcpMemPages(n, page)
			return []int64{p * 3 / 4, p, p * 3 / 2}
		}},
	{key: "net.netfilter.nf_conntrack_max", roles: both, dirs: []dir{dirAtLeast}, optional: true,
		need: func(n, _ int) []int64 { return []int64{int64(ceilDiv(5*n, 4))} }},
	{key: "net.ipv4.tcp_fin_timeout", roles: serverOnly, dirs: []dir{dirAtMost}, need: fixed(30)},
	{key: "net.ipv4.tcp_tw_reuse", roles: both, dirs: []dir{dirExact}, need: fixed(1)},
	{key: "net.ipv4.ip_local_port_range", roles: loadgen, dirs: []dir{dirAtMost, dirAtLeast},
		need: fixed(1024, 65535), judge: judgePortRange},
}

// judgePortRange wants a span of min(n, EphemeralPorts) ports; beyond
// that, more source addresses are the fix, not a wider range.
func judgePortRange(cur []int64, n int) (bool, string) {
	want := int64(min(n, EphemeralPorts))
	needed := fmt.Sprintf(">= %d ports", want)
	if s := NeededSources(n); s > 1 {
		needed += fmt.Sprintf(" x %d source addresses", s)
	}
	if len(cur) != 2 {
		return false, needed
	}
	return cur[1]-cur[0]+1 >= want, needed
}

// lookup returns the spec of key.
func lookup(key string) (spec, bool) {
	for _, s := range specs {
		if s.key == key {
			return s, true
		}
	}
	return spec{}, false
}

func (s spec) hasRole(r Role) bool {
	for _, x := range s.roles {
		if x == r {
			return true
		}
	}
	return false
}

// profileRole is the role whose profile carries the key.
func (s spec) profileRole() Role {
	if s.hasRole(RoleServer) {
		return RoleServer
	}
	return RoleLoadgen
}

// better reports whether every field of cur meets want in its direction.
func (s spec) better(cur, want []int64) bool {
	if len(cur) != len(want) || len(cur) != len(s.dirs) {
		return false
	}
	for i, d := range s.dirs {
		switch d {
		case dirAtLeast:
			if cur[i] < want[i] {
				return false
			}
		case dirAtMost:
			if cur[i] > want[i] {
				return false
			}
		case dirExact:
			if cur[i] != want[i] {
				return false
			}
		}
	}
	return true
}

// merge returns what apply writes: the profile's value in each field,
// except where cur is already better in that field's direction.
func (s spec) merge(cur, profile []int64) []int64 {
	out := append([]int64(nil), profile...)
	if len(cur) != len(profile) {
		return out
	}
	for i, d := range s.dirs {
		switch {
		case d == dirAtLeast && cur[i] > profile[i]:
			out[i] = cur[i]
		case d == dirAtMost && cur[i] < profile[i]:
			out[i] = cur[i]
		}
	}
	return out
}

// neededString renders want with each field's direction: ">=", "<=", or
// "*" for any value.
func (s spec) neededString(want []int64) string {
	parts := make([]string, len(want))
	for i, v := range want {
		switch s.dirs[i] {
		case dirAtLeast:
			parts[i] = ">=" + strconv.FormatInt(v, 10)
		case dirAtMost:
			parts[i] = "<=" + strconv.FormatInt(v, 10)
		case dirExact:
			parts[i] = strconv.FormatInt(v, 10)
		default:
			parts[i] = "*"
		}
	}
	if len(parts) == 1 && s.dirs[0] != dirExact {
		return parts[0][:2] + " " + parts[0][2:]
	}
	return strings.Join(parts, " ")
}

// roleFor is the profile to name in a fix for a box of role: its own
// when the key is in it, else the profile that has the key.
func (s spec) roleFor(role Role) Role {
	if s.hasRole(role) {
		return role
	}
	return s.profileRole()
}

// fix is the one sentence that says what to change on a box of role.
func (s spec) fix(want []int64, role Role) string {
	v := formatFields(want)
	phrase := "Set %s to %s or better"
	switch {
	case s.allDirs(dirAtLeast) && len(want) == 1:
		phrase = "Raise %s to at least %s"
	case s.allDirs(dirAtMost) && len(want) == 1:
		phrase = "Lower %s to at most %s"
	case s.allDirs(dirExact):
		phrase = "Set %s to %s"
	}
	return fmt.Sprintf(phrase+": run `c1m sysctl apply --role %s`.", s.key, v, s.roleFor(role))
}

func (s spec) allDirs(d dir) bool {
	for _, x := range s.dirs {
		if x != d {
			return false
		}
	}
	return true
}
