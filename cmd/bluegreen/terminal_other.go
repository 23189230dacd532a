//go:build !linux

package main

import "io"

// isTerminal reports whether w is a terminal; off Linux the CLI does not
// tell, and prints no progress.
func isTerminal(w io.Writer) bool { return false }
