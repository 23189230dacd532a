package runner

import "syscall"

// procAttr puts a command in its own process group, so that a stopped run
// kills every process it started, and has the kernel kill it should serve
// die (kill -9, a crash): a build step of a deployment that is then marked
// interrupted must not go on changing things alone.
func procAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}
