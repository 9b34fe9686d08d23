//go:build linux

package deploy

import (
	"os"
	"testing"

	"c1m/internal/c1mtest"
)

// TestMain removes the c1m binary the unit's tests build (c1mtest.Binary).
func TestMain(m *testing.M) {
	code := m.Run()
	c1mtest.Cleanup()
	os.Exit(code)
}
