//go:build linux

package server

import (
	"os"
	"os/exec"
	"testing"
)

// nodeFix is what installs the ws package TestNodeInterop needs, run from
// the repository root.
const nodeFix = "npm ci --prefix server/testdata/interop"

// TestNodeInterop runs testdata/interop/client.mjs, on Node's ws (pinned in
// testdata/interop/package-lock.json), against the echo handler: echoSizes
// as text and binary, whole and fragmented, a ping whose pong must carry its
// payload, and the close handshake (1000 both ways). A missing node or ws
// fails the test: it is never skipped, so CI cannot pass without running it.
func TestNodeInterop(t *testing.T) {
	node, err := exec.LookPath("node")
	if err != nil {
		t.Fatalf("node is not on PATH (%v); install Node.js (apt-get install -y nodejs npm), then run: %s", err, nodeFix)
	}
	if _, err := os.Stat("testdata/interop/node_modules/ws/package.json"); err != nil {
		t.Fatalf("the ws package is not installed (%v); run: %s", err, nodeFix)
	}
	runInteropClient(t, node, "client.mjs")
}
