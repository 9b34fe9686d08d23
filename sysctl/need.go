package sysctl

// Per-connection costs and reserves that every needed value is computed
// from. They are the budgets of ARCHITECTURE.md, "Budgets that shape the
// design".
const (
	// KernelBytesPerConn is the kernel memory of one idle TCP socket
	// (socket, inode, dentry, file, epoll item), measured at about 4.8 KB.
	KernelBytesPerConn = 4800
	// UserBytesPerConn is c1m's user-space budget for one idle connection.
	UserBytesPerConn = 256
	// MemHeadroomPercent is added on top of N × per-connection memory for
	// in-flight buffers during a fan-out and everything else on the box.
	MemHeadroomPercent = 25
	// NoFileReserve is the file descriptors a c1m process needs besides
	// connections: listeners, epoll and eventfd, logs, NATS, metrics.
	NoFileReserve = 1024
	// FileMaxReserve is the open files the rest of the box needs.
	FileMaxReserve = 65536
	// EphemeralPorts is the widest sane ip_local_port_range, 1024-65535
	// (ports below 1024 stay for privileged services, ip(7)).
	EphemeralPorts = 65535 - 1024 + 1
)

// NeededNoFile is the RLIMIT_NOFILE a process holding n connections needs.
func NeededNoFile(n int) uint64 { return uint64(n) + NoFileReserve }

// NeededMemory is the memory in bytes n idle connections need.
func NeededMemory(n int) uint64 {
	b := uint64(n) * (KernelBytesPerConn + UserBytesPerConn)
	return b + b*MemHeadroomPercent/100
}

// NeededSources is the number of source addresses a load generator needs
// to open n connections to one destination address and port: each source
// address has at most EphemeralPorts ports.
func NeededSources(n int) int { return ceilDiv(n, EphemeralPorts) }

// burst is the queue depth a reconnect storm needs: if all n clients come
// back within about 10 s and the accept loop stalls for 100 ms (a GC pause,
// a busy loop), n/100 connections wait in the queue.
func burst(n int) int64 { return int64(ceilDiv(n, 100)) }

// tcpMemPages is net.ipv4.tcp_mem's pressure threshold for n connections:
// about one 4 KiB page in flight per connection while a message fans out
// to all of them (tcp(7): tcp_mem counts pages of socket buffers).
func tcpMemPages(n, pageSize int) int64 {
	return int64(ceilDiv(n*4096, pageSize))
}

func ceilDiv(a, b int) int { return (a + b - 1) / b }
