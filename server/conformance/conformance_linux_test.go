//go:build linux

package conformance

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

// allCases returns the whole table, sorted by case id.
func allCases() []*wsCase {
	var cs []*wsCase
	for _, g := range []func() []*wsCase{framingCases, pingCases, rsvCases, opcodeCases, fragmentCases, utf8Cases, closeCases, limitCases} {
		cs = append(cs, g()...)
	}
	sortCases(cs)
	return cs
}

// conformanceArgs are the flags of the server the table runs against.
var conformanceArgs = []string{
	"--max-message", fmt.Sprint(maxMessage),
	// No heartbeat ping may land in the middle of a case's expected
	// frames.
	"--ping-interval", "1h",
}

// TestConformance runs the case table against one `c1m serve
// --handler=echo`: the fast subset by default, every case with
// -conformance.full. It prints the table (go test -v shows it), fails on
// any FAILED or NON-STRICT case, and then checks that the server's
// descriptors, goroutines and heap are back to their baseline.
func TestConformance(t *testing.T) {
	cs := allCases()
	if err := checkIDs(cs); err != nil {
		t.Fatal(err)
	}
	srv := startServer(t, conformanceArgs...)
	base := srv.usage()

	var rows []caseResult
	var skipped []*wsCase
	start := time.Now()
	for _, c := range cs {
		if c.slow && !*full {
			skipped = append(skipped, c)
			continue
		}
		rows = append(rows, c.run(srv.Addr))
		srv.Alive()
	}
	total := time.Since(start)

	var buf bytes.Buffer
	writeTable(&buf, rows, skipped, total)
	fmt.Fprintf(os.Stdout, "\n%s\n", buf.String())
	if *report != "" {
		writeReport(t, *report, buf.String())
	}
	for _, r := range rows {
		if r.result != resOK {
			t.Errorf("case %s (%s): %s: close %s: %s", r.c.id, r.c.desc, r.result, r.code, r.note)
		}
	}
	srv.checkNoLeaks(base)
}

// writeReport writes docs/conformance.md (or path): how it was made, then
// the table.
func writeReport(t *testing.T, path, table string) {
	t.Helper()
	mode := "fast subset (`go test ./server/conformance`)"
	if *full {
		mode = "all cases"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "# Conformance\n\n")
	fmt.Fprintf(&b, "c1m's Autobahn-equivalent conformance table (package `server/conformance`; see its doc.go for what OK, NON-STRICT and FAILED mean). ")
	fmt.Fprintf(&b, "Each case runs on a fresh connection to `c1m serve --handler=echo %s` and names the RFC 6455 section it checks.\n\n", strings.Join(conformanceArgs, " "))
	fmt.Fprintf(&b, "Produced by `make conformance CONFORMANCE_REPORT=docs/conformance.md`, that is\n\n```sh\ngo test -count=1 -timeout 30m -run '^TestConformance$' -v ./server/conformance -args -conformance.full -conformance.report=docs/conformance.md\n```\n\n")
	fmt.Fprintf(&b, "Mode: %s. Machine: %s, GOMAXPROCS of the test %d. Durations are wall time on this machine, for information; no case passes or fails on time.\n\n", mode, hostInfo(), gomaxprocs())
	b.WriteString(table)
	b.WriteString(hostileNote)
	if !filepath.IsAbs(path) {
		// go test runs in the package directory; a relative path is
		// relative to the module root, where make runs.
		path = filepath.Join("..", "..", path)
	}
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatalf("cannot write the report: %v", err)
	}
}

// checkIDs fails on a duplicate case id.
func checkIDs(cs []*wsCase) error {
	seen := map[string]bool{}
	for _, c := range cs {
		if seen[c.id] {
			return fmt.Errorf("duplicate case id %s", c.id)
		}
		seen[c.id] = true
	}
	return nil
}

func gomaxprocs() int { return runtime.GOMAXPROCS(0) }

// hostInfo is "linux/amd64, N CPUs".
func hostInfo() string {
	return fmt.Sprintf("%s/%s, %d CPUs", runtime.GOOS, runtime.GOARCH, runtime.NumCPU())
}

// hostileNote ends the report: the hostile-input tests of the package,
// which are not rows of the table but pass/fail tests of their own.
const hostileNote = `
## Hostile input

The same package runs, with ` + "`go test ./server/conformance`" + `, one server per test with the
flags it needs, and checks the answer docs/operations.md promises, the
server's RSS where memory is the point, and that descriptors, goroutines
and heap return to the baseline afterwards:

| test | what | answer |
|---|---|---|
| TestHandshakeAnswers | garbage, HTTP/1.0, POST/PUT, missing or bad key, missing Upgrade/Connection, version 8/14/missing, wrong path, heads over --max-header-bytes (whole, endless, byte by byte) | 400, 405, 426 (naming version 13), 404, 431; closed after |
| TestSlowloris | 50 upgrade requests at 1 byte/s, --handshake-timeout 2s | 408 and closed after 2-3 bytes; others upgrade meanwhile |
| TestIdleSocketsDoNotBlock | 5,000 sockets that never send, --handshake-timeout 60s | 50 other clients upgrade and echo meanwhile |
| TestHugeDeclaredLengths | 100 frames of 2^63 bytes; 1,000 connections announcing 1 MiB and sending 1 byte | 1009 each; RSS within 2× baseline + 32 MiB |
| TestFragmentsPastMax | 8 messages grown by fragments to max-1, then 2 more bytes | 1009 each, nothing echoed |
| TestPingFlood | 100,000 pings of 125 bytes from a client that never reads (4 KiB receive buffer) | 1013 slow consumer; RSS within baseline + 8 MiB |
| TestNeverReads | 64 KiB messages from a client that never reads | 1013 slow consumer; RSS within baseline + 16 MiB |
| TestHalfClosed | shutdown(SHUT_WR) without a close frame in the handshake, idle, mid-frame, mid-message | EOF to each; c1m_sockets back to 0 |
| TestMaxConnsFlood | 1,000 connections past --max-conns 100 | 503 and closed; /readyz 503 then 200; the server still serves |
`
