//go:build unix && !linux

package runner

import "syscall"

// procAttr puts a command in its own process group, so that a stopped run
// kills every process it started. Outside Linux there is no parent-death
// signal: serve is supported on Linux only, and the package builds
// elsewhere so that the one binary's CLI verbs do (macOS laptops).
func procAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true}
}
