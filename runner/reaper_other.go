//go:build unix && !linux

package runner

import "os/exec"

// guard only checks cmd outside Linux: there is no reaper (see
// reaper_linux.go), so a command's group does not die with its caller.
// serve is supported on Linux only, and the package builds elsewhere so
// that the one binary's CLI verbs do (macOS laptops).
func guard(cmd *exec.Cmd) (*lifeline, error) {
	return &lifeline{}, guardable(cmd)
}

// lifeline does nothing outside Linux.
type lifeline struct{}

func (*lifeline) started() {}
func (*lifeline) close()   {}
