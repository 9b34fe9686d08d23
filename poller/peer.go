package poller

// PeerAddr is a connection's remote IP address as accept4(2) gave it: 4
// bytes (IPv4, also for an IPv4-mapped IPv6 address) or 16. A plain value:
// taking it allocates nothing.
type PeerAddr struct {
	IP [16]byte
	N  uint8 // 4 or 16; 0 when unknown
}
