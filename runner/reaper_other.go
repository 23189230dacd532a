//go:build unix && !linux

package runner

import (
	"os/exec"
	"syscall"
)

// command returns the command that runs c's shell line in its own process
// group, so that a stopped run kills every process it started. Outside
// Linux there is no reaper (see reaper_linux.go): the group does not die
// with its caller. serve is supported on Linux only, and the package builds
// elsewhere so that the one binary's CLI verbs do (macOS laptops).
func command(c Cmd) (*exec.Cmd, *lifeline, error) {
	cmd := exec.Command("/bin/sh", "-c", c.Command)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	return cmd, &lifeline{}, nil
}

// lifeline does nothing outside Linux.
type lifeline struct{}

func (*lifeline) started() {}
func (*lifeline) close()   {}
