// Package testenv lets tests that need a system program (named, prometheus,
// gunicorn, Debian's Django) say so. Where the program is missing such a
// test is skipped with a message saying what to install, so that `make
// test` works on a machine with Go alone; in CI (.ci/run sets
// BLUEGREEN_REQUIRE_ALL=1 after installing everything) a missing program
// fails the test instead, so nothing is skipped silently there.
package testenv

import (
	"os"
	"os/exec"
	"testing"
)

// RequireAllEnv is the environment variable that turns skips into failures.
const RequireAllEnv = "BLUEGREEN_REQUIRE_ALL"

// LookPath returns the path of program, looking in PATH and then in the
// given extra paths (absolute file names, such as /usr/sbin/named). When
// it is found nowhere the test is skipped, or failed under
// BLUEGREEN_REQUIRE_ALL=1; pkg names the Debian package to install.
func LookPath(t testing.TB, program, pkg string, extra ...string) string {
	t.Helper()
	if p, err := exec.LookPath(program); err == nil {
		return p
	}
	for _, p := range extra {
		if st, err := os.Stat(p); err == nil && !st.IsDir() && st.Mode()&0o111 != 0 {
			return p
		}
	}
	Missing(t, program+" not found", pkg)
	return ""
}

// Missing skips (or, under BLUEGREEN_REQUIRE_ALL=1, fails) the test
// because what is missing; pkg names the Debian package(s) to install.
func Missing(t testing.TB, what, pkg string) {
	t.Helper()
	msg := what + ": install it with `apt-get install " + pkg + "` (.ci/run does)"
	if os.Getenv(RequireAllEnv) == "1" {
		t.Fatal(msg)
	}
	t.Skip(msg)
}
