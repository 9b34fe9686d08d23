package netaddr

import "net"

// IsLoopback reports whether the host of addr ("host:port") is a loopback
// address or "localhost". Listeners that may run without a key (the
// publish APIs) are allowed only there.
func IsLoopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
