// Package netaddr holds small address rules shared by c1m's HTTP
// listeners: which addresses count as this host only (loopback), where a
// listener may run without a key.
//
//	if key == "" && !netaddr.IsLoopback(addr) {
//		return errors.New("a key is required off loopback")
//	}
package netaddr
