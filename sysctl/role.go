package sysctl

import "fmt"

// Role says which kind of box is checked or tuned.
type Role string

// The roles a box can play.
const (
	// RoleServer is a box running `c1m serve`: it accepts N connections.
	RoleServer Role = "server"
	// RoleLoadgen is a box running the benchmark clients: it opens N connections.
	RoleLoadgen Role = "loadgen"
)

// ParseRole returns the Role named s, or an error wrapping ErrUnknownRole.
func ParseRole(s string) (Role, error) {
	r := Role(s)
	if err := r.validate(); err != nil {
		return "", err
	}
	return r, nil
}

func (r Role) validate() error {
	switch r {
	case RoleServer, RoleLoadgen:
		return nil
	}
	return fmt.Errorf("%w %q (want %q or %q)", ErrUnknownRole, string(r), RoleServer, RoleLoadgen)
}
