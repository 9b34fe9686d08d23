//go:build linux

package server

import (
	"bufio"
	"context"
	"io"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"c1m/internal/c1mtest"
)

// runInteropClient runs a client script from testdata/interop against a
// fresh echo server, passing the server's URL and echoSizes, streams the
// script's output into t.Log line by line, fails the test if the script
// fails, and then checks that the server freed the socket.
func runInteropClient(t *testing.T, name string, args ...string) {
	t.Helper()
	s := startServer(t, Config{})
	sizes := make([]string, len(echoSizes))
	for i, n := range echoSizes {
		sizes[i] = strconv.Itoa(n)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, append(args, wsURL(s), strings.Join(sizes, ","))...)
	cmd.Dir = "testdata/interop"
	cmd.WaitDelay = 5 * time.Second
	pr, pw := io.Pipe()
	cmd.Stdout, cmd.Stderr = pw, pw
	logged := make(chan struct{})
	go func() {
		defer close(logged)
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			t.Log(sc.Text())
		}
		_, _ = io.Copy(io.Discard, pr)
	}()
	err := cmd.Run()
	_ = pw.Close()
	<-logged
	if ctx.Err() != nil {
		t.Fatalf("%s: timed out: %v", cmd, ctx.Err())
	}
	if err != nil {
		t.Fatalf("%s: %v (its output is above)", cmd, err)
	}
	c1mtest.Eventually(t, 5*time.Second, func() bool { return s.Stats().Sockets == 0 }, c1mtest.Say("server to free the socket"))
}
