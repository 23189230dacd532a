//go:build !linux

package bindtest

import "syscall"

// procAttr: without Pdeathsig, named outlives a test process that dies
// without running its cleanup.
func procAttr() *syscall.SysProcAttr { return &syscall.SysProcAttr{} }
