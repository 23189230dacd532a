//go:build unix && !linux

package process

import "syscall"

// procAttr starts an app in its own process group. Outside Linux there is
// no parent-death signal: serve is supported on Linux only, and the
// package builds elsewhere so that the one binary's CLI verbs do.
func procAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true}
}
