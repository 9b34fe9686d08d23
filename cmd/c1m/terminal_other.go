//go:build !linux

package main

import "os"

// isTerminal reports false off Linux: progress is printed as plain lines.
func isTerminal(*os.File) bool { return false }
