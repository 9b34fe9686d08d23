package sysctl

import (
	"embed"
	"fmt"
	"io/fs"
)

// profiles holds the bundled profiles, laid out as they are under deploy/:
// sysctl/60-c1m-{server,loadgen}.conf, limits.d/c1m.conf, systemd/c1m.service.
//
//go:embed profiles
var profiles embed.FS

// Profiles returns the bundled profiles as a read-only file system rooted
// at the layout of deploy/ (TestDeployCopiesIdentical keeps them equal).
func Profiles() fs.FS {
	sub, err := fs.Sub(profiles, "profiles")
	if err != nil {
		panic(fmt.Sprintf("BUG: cannot open the embedded profiles: %v", err))
	}
	return sub
}

// SysctlProfileName is the file name of role's sysctl.d profile, both in
// Profiles()/sysctl and in /etc/sysctl.d.
func SysctlProfileName(role Role) string { return "60-c1m-" + string(role) + ".conf" }

// SysctlProfile returns the bytes of role's sysctl.d profile.
func SysctlProfile(role Role) ([]byte, error) {
	if err := role.validate(); err != nil {
		return nil, err
	}
	return fs.ReadFile(Profiles(), "sysctl/"+SysctlProfileName(role))
}

// LimitsProfile returns the bytes of limits.d/c1m.conf.
func LimitsProfile() []byte {
	b, err := fs.ReadFile(Profiles(), "limits.d/c1m.conf")
	if err != nil {
		panic(fmt.Sprintf("BUG: cannot read the embedded limits profile: %v", err))
	}
	return b
}
