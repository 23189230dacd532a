package runner

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"syscall"
	"testing"
)

// callerEnv makes the test binary play serve for TestCallerDeathKillsTheGroup:
// it runs the command in $callerEnv with Run, and is then killed.
const callerEnv = "RUNNER_TEST_CALLER_COMMAND"

// guardEnv is callerEnv for a command started with exec and Guard (in a
// session of its own, as git is) rather than with Run.
const guardEnv = "RUNNER_TEST_GUARD_COMMAND"

func TestMain(m *testing.M) {
	if command, ok := os.LookupEnv(guardEnv); ok {
		cmd := exec.Command("/bin/sh", "-c", command)
		cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
		release, err := Guard(cmd)
		if err == nil {
			err = cmd.Run()
			release()
		}
		fmt.Fprintln(os.Stderr, "the command ended:", err)
		os.Exit(3)
	}
	if command, ok := os.LookupEnv(callerEnv); ok {
		_, err := Run(context.Background(), Cmd{Command: command, Dir: os.TempDir(), Env: []string{"PATH=/usr/bin:/bin"}}, nil)
		fmt.Fprintln(os.Stderr, "the command ended:", err)
		os.Exit(3)
	}
	os.Exit(m.Run())
}
