//go:build linux

package main

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"c1m/bench"
	"c1m/internal/c1mtest"
)

// runBenchCmd runs `c1m bench args...` (with --out in a fresh directory),
// fails the test if it fails or takes over limit, and returns the
// directory.
func runBenchCmd(t *testing.T, limit time.Duration, args ...string) string {
	t.Helper()
	out := filepath.Join(t.TempDir(), "report")
	cmd := exec.Command(c1mtest.Binary(t), append(append([]string{"bench"}, args...), "--out", out)...)
	cmd.Env = c1mtest.Env()
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("c1m bench %s: %v\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), err, stdout.String(), stderr.String())
		}
	case <-time.After(limit):
		_ = cmd.Process.Kill()
		<-done
		t.Fatalf("c1m bench did not finish in %v\nstderr:\n%s", limit, stderr.String())
	}
	t.Logf("c1m bench %s:\n%s", strings.Join(args, " "), stdout.String())
	return out
}

// readReport reads a run's report.json.
func readReport(t *testing.T, dir string) bench.Report {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "report.json"))
	if err != nil {
		t.Fatal(err)
	}
	var rep bench.Report
	if err := json.Unmarshal(b, &rep); err != nil {
		t.Fatalf("report.json does not parse: %v", err)
	}
	return rep
}

// TestBenchWithTokens runs the benchmark against local c1m servers that
// check tokens, HS256 and ES256: the workers mint one token per
// connection, every connection is accepted as its own user (bench-<n>,
// so the servers count as many users as connections) and gets every
// broadcast, and no token is refused.
func TestBenchWithTokens(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the benchmark twice for a few seconds; run without -short")
	}
	ek, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(ek)
	if err != nil {
		t.Fatal(err)
	}
	keyFile := filepath.Join(t.TempDir(), "es256.pem")
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	const conns = 1000
	for i, tc := range []struct{ alg, flag, value string }{
		{"HS256", "--jwt-secret", strings.Repeat("k", 32)},
		{"ES256", "--jwt-private-key", keyFile},
	} {
		t.Run(tc.alg, func(t *testing.T) {
			dir := runBenchCmd(t, 2*time.Minute, "--conns", "1000", "--servers", "1", "--workers", "1",
				"--scenario", "idle,broadcast", "--broadcasts", "2", "--hold", "1s", tc.flag, tc.value,
				"--base-port", strconv.Itoa(30100+10*i))
			rep := readReport(t, dir)
			if rep.Auth != tc.alg || rep.TokenMintSeconds <= 0 {
				t.Fatalf("report auth %q, minted in %g s; want %s tokens minted", rep.Auth, rep.TokenMintSeconds, tc.alg)
			}
			if rep.Held != conns || rep.Failed != 0 {
				t.Fatalf("held %d, failed %d; want all %d", rep.Held, rep.Failed, conns)
			}
			if got := rep.ServerMetrics["c1m_users"]; got != conns {
				t.Fatalf("the servers count %g users, want %d (one per connection)", got, conns)
			}
			for k, v := range rep.ServerMetrics {
				if strings.HasPrefix(k, "c1m_auth_failures_total") && v != 0 {
					t.Fatalf("%s = %g, want no refused token", k, v)
				}
			}
			if len(rep.Phases) != 1 || rep.Phases[0].Complete != conns || rep.Phases[0].Deliveries != 2*conns {
				t.Fatalf("broadcast phase %+v: want 2 messages to all %d", rep.Phases, conns)
			}
		})
	}
}

// TestBenchTokensAreChecked runs the benchmark's workers against a c1m
// server started here with its own secret: with the same secret every
// connection opens, with another none does (the server refuses the
// tokens), so the tokens are what the server checks.
func TestBenchTokensAreChecked(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the benchmark twice for a few seconds; run without -short")
	}
	secret := strings.Repeat("s", 32)
	p := c1mtest.Serve(t, func(addr, maddr string) []string {
		return []string{"serve", "--auth=jwt", "--jwt-secret", secret, "--api-addr=-", "--metrics-addr", maddr, "--addr", addr}
	})
	target := "ws://" + p.Addr + "/ws"
	good := readReport(t, runBenchCmd(t, time.Minute, "--target", target, "--conns", "50", "--workers", "1",
		"--scenario", "idle", "--hold", "0s", "--jwt-secret", secret))
	if good.Held != 50 || good.Failed != 0 || good.Auth != "HS256" {
		t.Fatalf("with the server's secret: held %d, failed %d, auth %q; want 50 held", good.Held, good.Failed, good.Auth)
	}
	bad := readReport(t, runBenchCmd(t, time.Minute, "--target", target, "--conns", "50", "--workers", "1",
		"--scenario", "idle", "--hold", "0s", "--ramp-timeout", "2s", "--jwt-secret", strings.Repeat("x", 32)))
	if bad.Held != 0 || bad.Opened != 0 {
		t.Fatalf("with another secret: opened %d, held %d; want none", bad.Opened, bad.Held)
	}
	if n := p.Metric(`c1m_auth_failures_total{reason="bad_signature"}`); n < 50 {
		t.Fatalf("the server refused %g tokens for their signature, want at least 50", n)
	}
}
