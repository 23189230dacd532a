package runner

import (
	"errors"
	"os/exec"
)

// Guard makes cmd, which must not have been started, die with this
// process: on Linux it runs under a reaper (see reaper_linux.go) that kills
// cmd's whole process group when this process dies, kill -9 included.
// cmd's SysProcAttr must make it lead a process group (Setpgid with Pgid 0)
// or a session (Setsid), which the reaper then leads in its place, and cmd
// must pass no ExtraFiles. Path, Args, Dir and Env keep their meaning;
// killing the group (-cmd.Process.Pid) kills the reaper and cmd. The
// caller calls release once Wait has returned (or Start failed); a reaper
// still running then kills its group. Outside Linux Guard only checks cmd,
// and release does nothing.
func Guard(cmd *exec.Cmd) (release func(), err error) {
	l, err := guard(cmd)
	if err != nil {
		return nil, err
	}
	return l.close, nil
}

// guardable checks what Guard requires of cmd.
func guardable(cmd *exec.Cmd) error {
	switch a := cmd.SysProcAttr; {
	case cmd.Process != nil:
		return errors.New("runner: Guard of a command already started")
	case cmd.Err != nil:
		return cmd.Err
	case len(cmd.ExtraFiles) > 0:
		return errors.New("runner: Guard of a command with ExtraFiles (the reaper's descriptor 3 is taken)")
	case a == nil || !(a.Setsid || a.Setpgid && a.Pgid == 0):
		return errors.New("runner: Guard of a command that leads no process group of its own (set Setpgid or Setsid)")
	}
	return nil
}
