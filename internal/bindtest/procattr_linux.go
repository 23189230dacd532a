package bindtest

import "syscall"

// procAttr makes the kernel kill named when the test process dies without
// running its cleanup (a `go test` timeout, a crash), so that no server
// outlives its test.
func procAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
