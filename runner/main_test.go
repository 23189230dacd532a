package runner

import (
	"context"
	"fmt"
	"os"
	"testing"
)

// callerEnv makes the test binary play serve for TestCallerDeathKillsTheGroup:
// it runs the command in $callerEnv with Run, and is then killed.
const callerEnv = "RUNNER_TEST_CALLER_COMMAND"

func TestMain(m *testing.M) {
	if command, ok := os.LookupEnv(callerEnv); ok {
		_, err := Run(context.Background(), Cmd{Command: command, Dir: os.TempDir(), Env: []string{"PATH=/usr/bin:/bin"}}, nil)
		fmt.Fprintln(os.Stderr, "the command ended:", err)
		os.Exit(3)
	}
	os.Exit(m.Run())
}
