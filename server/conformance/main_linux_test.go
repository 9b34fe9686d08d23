//go:build linux

package conformance

import (
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
)

var (
	// full runs every case of the table; without it `go test` runs the
	// fast subset (cases marked slow are skipped and listed as such).
	full = flag.Bool("conformance.full", false, "run every conformance case, not only the fast subset")
	// report writes the table as Markdown to this file.
	report = flag.String("conformance.report", "", "write the conformance table as Markdown to this file")
)

var (
	binOnce sync.Once
	binDir  string
	binPath string
	binErr  error
)

func TestMain(m *testing.M) {
	flag.Parse()
	code := m.Run()
	if binDir != "" {
		_ = os.RemoveAll(binDir)
	}
	os.Exit(code)
}

// c1mBinary builds c1m once per test run (go build -o tmp c1m/cmd/c1m) and
// returns its path.
func c1mBinary(t testing.TB) string {
	t.Helper()
	binOnce.Do(func() {
		binDir, binErr = os.MkdirTemp("", "c1m-conformance-")
		if binErr != nil {
			return
		}
		binPath = filepath.Join(binDir, "c1m")
		goTool, err := exec.LookPath("go")
		if err != nil {
			binErr = fmt.Errorf("cannot find the go tool: %w", err)
			return
		}
		out, err := exec.Command(goTool, "build", "-o", binPath, "c1m/cmd/c1m").CombinedOutput()
		if err != nil {
			binErr = fmt.Errorf("cannot build c1m: %w\n%s", err, out)
		}
	})
	if binErr != nil {
		t.Fatal(binErr)
	}
	return binPath
}
