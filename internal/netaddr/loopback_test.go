package netaddr

import "testing"

func TestIsLoopback(t *testing.T) {
	f := func(addr string, want bool) {
		t.Helper()
		if got := IsLoopback(addr); got != want {
			t.Fatalf("IsLoopback(%q) = %v, want %v", addr, got, want)
		}
	}
	f("127.0.0.1:8081", true)
	f("127.1.2.3:0", true)
	f("[::1]:8081", true)
	f("localhost:8081", true)
	f("0.0.0.0:8081", false)
	f(":8081", false)
	f("10.0.0.1:8081", false)
	f("example.com:80", false)
	f("127.0.0.1", false)
}
