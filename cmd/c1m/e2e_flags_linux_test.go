//go:build linux

package main

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"c1m/internal/c1mtest"
)

// TestServeBadFlags checks that a bad setting stops c1m before it serves,
// with exit status 2 and one sentence on stderr that names the bad value.
func TestServeBadFlags(t *testing.T) {
	bin := c1mtest.Binary(t)
	dir := t.TempDir()
	badConfig := filepath.Join(dir, "bad.conf")
	if err := os.WriteFile(badConfig, []byte("# c1m\nmax-conns = 100\nmax-conections = 5\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	f := func(args []string, env []string, wants ...string) {
		t.Helper()
		// Ports that are free, in case the command does start serving;
		// the timeout then ends it and the status check fails.
		if len(args) > 0 && args[0] == "serve" {
			args = append(args, "--addr", c1mtest.FreeAddr(t), "--metrics-addr", c1mtest.FreeAddr(t), "--api-addr", c1mtest.FreeAddr(t))
			if !strings.Contains(strings.Join(args, " "), "auth") {
				args = append(args, "--auth=none")
			}
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		cmd := exec.CommandContext(ctx, bin, args...)
		cmd.Env = c1mtest.Env(env...)
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		err := cmd.Run()
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != 2 {
			t.Fatalf("c1m %s: %v, want exit status 2\nstderr:\n%s", strings.Join(args, " "), err, stderr.String())
		}
		msg := stderr.String()
		line := strings.TrimSuffix(msg, "\n")
		if line == "" || strings.Contains(line, "\n") {
			t.Fatalf("c1m %s: stderr is %q, want exactly one line", strings.Join(args, " "), msg)
		}
		if !strings.HasSuffix(line, ".") || strings.Count(line, ". ") > 0 {
			t.Fatalf("c1m %s: stderr is %q, want one sentence ending in a period", strings.Join(args, " "), msg)
		}
		for _, want := range wants {
			if !strings.Contains(line, want) {
				t.Fatalf("c1m %s: stderr is %q, want it to mention %q", strings.Join(args, " "), msg, want)
			}
		}
		t.Logf("c1m %s: %s", strings.Join(args, " "), line)
		if stdout.Len() > 0 {
			t.Fatalf("c1m %s: wrote %q to stdout, want nothing", strings.Join(args, " "), stdout.String())
		}
	}
	f([]string{"serve", "--handler=frob"}, nil, "handler", `"frob"`)
	f([]string{"serve", "--max-conns=-1"}, nil, "max-conns", "-1")
	f([]string{"serve", "--path=ws"}, nil, "path", `"ws"`)
	f([]string{"serve", "--log-level=loud"}, nil, "log level", `"loud"`)
	f([]string{"serve", "--config=" + badConfig}, nil, badConfig, `"max-conections"`)
	f([]string{"serve"}, []string{"C1M_HANDLER=frob"}, "handler", `"frob"`)
	// Authentication is on unless switched off, and needs a key.
	f([]string{"serve", "--auth=jwt"}, nil, "--jwt-secret", "--auth=none")
	f([]string{"serve", "--auth=jwt", "--jwt-secret=short"}, nil, "secret", "32")
	f([]string{"serve", "--auth=maybe"}, nil, "auth", `"maybe"`)
	f([]string{"serve", "--slow-policy=ignore"}, nil, "policy", `"ignore"`)
	f([]string{"frobnicate"}, nil, "command", `"frobnicate"`)
}

// TestServeFlagPrecedence checks where a setting comes from: a C1M_*
// environment variable overrides the config file, and a flag overrides
// both. The setting is --addr, observed as the port that upgrades.
func TestServeFlagPrecedence(t *testing.T) {
	fileAddr, envAddr, flagAddr := c1mtest.FreeAddr(t), c1mtest.FreeAddr(t), c1mtest.FreeAddr(t)
	conf := filepath.Join(t.TempDir(), "c1m.conf")
	if err := os.WriteFile(conf, []byte("addr = "+fileAddr+"\nhandler = echo\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	listens := func(addr string) bool {
		c, err := dialWS(addr, "/ws", 5*time.Second)
		if err != nil {
			return false
		}
		defer c.Close()
		return c.echo("where", 5*time.Second) == nil
	}
	f := func(args, env []string, want string) {
		t.Helper()
		p := startServeWith(t, want, args, env)
		if !listens(want) {
			t.Fatalf("c1m serve %s with %v: no WebSocket on %s", strings.Join(args, " "), env, want)
		}
		for _, other := range []string{fileAddr, envAddr, flagAddr} {
			if other != want && listens(other) {
				t.Fatalf("c1m serve %s with %v: WebSocket on %s, want only %s", strings.Join(args, " "), env, other, want)
			}
		}
		p.Signal(os.Interrupt)
		if code := p.Wait(10 * time.Second); code != 0 {
			t.Fatalf("exit status %d after SIGINT, want 0", code)
		}
	}
	// The file alone.
	f([]string{"--config", conf}, nil, fileAddr)
	// The environment overrides the file.
	f([]string{"--config", conf}, []string{"C1M_ADDR=" + envAddr}, envAddr)
	// A flag overrides both.
	f([]string{"--config", conf, "--addr", flagAddr}, []string{"C1M_ADDR=" + envAddr}, flagAddr)
}
