//go:build linux

package conformance

import (
	"flag"
	"os"
	"testing"

	"c1m/internal/c1mtest"
)

var (
	// full runs every case of the table; without it `go test` runs the
	// fast subset (cases marked slow are skipped and listed as such).
	full = flag.Bool("conformance.full", false, "run every conformance case, not only the fast subset")
	// report writes the table as Markdown to this file.
	report = flag.String("conformance.report", "", "write the conformance table as Markdown to this file")
)

func TestMain(m *testing.M) {
	flag.Parse()
	code := m.Run()
	c1mtest.Cleanup()
	os.Exit(code)
}
