//go:build linux

package server

import (
	"os"
	"os/exec"
	"testing"
)

// pythonFix is what makes TestPythonInterop runnable on Debian.
const pythonFix = "apt-get update && apt-get install -y python3-websockets"

// debianPython is Debian's interpreter, the one python3-websockets installs
// into; a python3 earlier on PATH (pyenv, a venv) may lack the module.
const debianPython = "/usr/bin/python3"

// TestPythonInterop runs testdata/interop/client.py, on the Python
// websockets library from Debian's python3-websockets, against the echo
// handler: echoSizes as text and binary, whole and fragmented, a ping whose
// pong must carry its payload, and the close handshake (1000 both ways).
// A missing interpreter or module fails the test: it is never skipped, so
// CI cannot pass without running it.
func TestPythonInterop(t *testing.T) {
	if _, err := os.Stat(debianPython); err != nil {
		t.Fatalf("%s is missing (%v); install it and the module with: %s", debianPython, err, pythonFix)
	}
	if out, err := exec.Command(debianPython, "-c", "import websockets").CombinedOutput(); err != nil {
		t.Fatalf("%s cannot import websockets (%v: %s); install it with: %s", debianPython, err, out, pythonFix)
	}
	runInteropClient(t, debianPython, "client.py")
}
