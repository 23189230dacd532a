package process

import "syscall"

// procAttr starts an app in its own process group, killed by the kernel
// when the supervisor dies. Pdeathsig fires when the forking OS thread
// ends; Go ends a thread only when a goroutine locked to it exits, which
// this package never does.
func procAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}
