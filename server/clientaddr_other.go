//go:build !linux

package server

import "net/netip"

// RemoteAddr returns the zero AddrPort off Linux, where no connection
// exists.
func (c Conn) RemoteAddr() netip.AddrPort { return netip.AddrPort{} }
