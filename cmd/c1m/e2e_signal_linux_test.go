//go:build linux

package main

import (
	"errors"
	"net"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"c1m/internal/c1mtest"
)

// TestServeSignalAtStart: a SIGTERM that arrives the moment c1m serve
// answers on its metrics port (a supervisor stopping a unit it has just
// started, or a test stopping a server it has just seen come up) is a
// drain and exit 0, never the Go runtime's default of dying by the
// signal. The test connects in a tight loop and signals on the first
// connection, ten times, to land in whatever window there is between
// the listeners opening and the handler being installed.
func TestServeSignalAtStart(t *testing.T) {
	for i := range 10 {
		maddr := c1mtest.FreeAddr(t)
		cmd := exec.Command(c1mtest.Binary(t), serveArgs(maddr, "--addr", c1mtest.FreeAddr(t), "--handler=echo", "--drain-delay=0")...)
		cmd.Env = c1mtest.Env()
		var out strings.Builder
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()

		deadline := time.Now().Add(15 * time.Second)
		for {
			c, err := net.Dial("tcp", maddr)
			if err == nil {
				c.Close()
				break
			}
			select {
			case err := <-done:
				t.Fatalf("run %d: c1m serve exited (%v) before its metrics port answered:\n%s", i, err, out.String())
			default:
			}
			if time.Now().After(deadline) {
				_ = cmd.Process.Kill()
				t.Fatalf("run %d: the metrics port %s did not answer within 15s", i, maddr)
			}
		}
		if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
		select {
		case err := <-done:
			var ee *exec.ExitError
			if errors.As(err, &ee) {
				t.Fatalf("run %d: SIGTERM right after start: %v, want a drain and exit 0:\n%s", i, err, out.String())
			}
			if err != nil {
				t.Fatal(err)
			}
		case <-time.After(60 * time.Second):
			_ = cmd.Process.Kill()
			<-done
			t.Fatalf("run %d: c1m serve did not exit within 60s of SIGTERM:\n%s", i, out.String())
		}
	}
}
