package runner

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestRunStreamsAndReportsExit(t *testing.T) {
	dir := t.TempDir()
	var lines []string
	res, err := Run(context.Background(), Cmd{
		Command: `echo "in $(pwd)"; echo "ref=$BLUEGREEN_REF"; echo oops >&2; exit 3`,
		Dir:     dir, Env: []string{"PATH=/usr/bin:/bin", "BLUEGREEN_REF=$(touch x)"},
	}, func(l string) { lines = append(lines, l) })
	if err == nil || res.ExitCode != 3 || !strings.Contains(err.Error(), "status 3") {
		t.Fatalf("exit 3: %+v %v", res, err)
	}
	want := []string{"in " + dir, "ref=$(touch x)", "oops"}
	if strings.Join(lines, "|") != strings.Join(want, "|") || strings.Join(res.Tail, "|") != strings.Join(want, "|") {
		t.Fatalf("lines %q tail %q, want %q", lines, res.Tail, want)
	}
	if _, err := os.Stat(filepath.Join(dir, "x")); err == nil {
		t.Fatal("a value in Env was executed by the shell")
	}
}

func TestTimeoutKillsTheGroup(t *testing.T) {
	dir := t.TempDir()
	marker := filepath.Join(dir, "late")
	start := time.Now()
	res, err := Run(context.Background(), Cmd{
		Command: `(sleep 5; touch ` + marker + `) & sleep 5`,
		Dir:     dir, Env: []string{"PATH=/usr/bin:/bin"}, Timeout: 200 * time.Millisecond,
	}, nil)
	if err == nil || !strings.Contains(err.Error(), "did not finish within 200ms") || res.ExitCode != -1 {
		t.Fatalf("timeout: %+v %v", res, err)
	}
	if time.Since(start) > 3*time.Second {
		t.Fatalf("Run returned after %s; the group was not killed", time.Since(start))
	}
}

func TestSuccessAndTail(t *testing.T) {
	res, err := Run(context.Background(), Cmd{Command: `for i in $(seq 1 30); do echo line$i; done`,
		Dir: t.TempDir(), Env: []string{"PATH=/usr/bin:/bin"}}, nil)
	if err != nil || res.ExitCode != 0 || len(res.Tail) != TailLines || res.Tail[TailLines-1] != "line30" || res.TailText(2) != "line29\nline30" {
		t.Fatalf("%+v %v", res, err)
	}
}

func TestDaemonStartedByTheCommandSurvives(t *testing.T) {
	dir := t.TempDir()
	pidFile := filepath.Join(dir, "pid")
	_, err := Run(context.Background(), Cmd{
		Command: `setsid sleep 30 > /dev/null 2>&1 < /dev/null & echo $! > ` + pidFile,
		Dir:     dir, Env: []string{"PATH=/usr/bin:/bin"},
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(pidFile)
	if err != nil {
		t.Fatal(err)
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	t.Cleanup(func() { _ = syscall.Kill(pid, syscall.SIGKILL) })
	if err := syscall.Kill(pid, 0); err != nil {
		t.Fatalf("the daemon (pid %d) did not survive the command: %v", pid, err)
	}
}

func TestLeftoverChildHoldingThePipeDoesNotHang(t *testing.T) {
	start := time.Now()
	res, err := Run(context.Background(), Cmd{Command: `sleep 20 & echo started`, Dir: t.TempDir(),
		Env: []string{"PATH=/usr/bin:/bin"}}, nil)
	if time.Since(start) > 10*time.Second {
		t.Fatalf("Run waited %s for a child holding the output pipe", time.Since(start))
	}
	if err != nil || res.ExitCode != 0 || len(res.Tail) == 0 || res.Tail[0] != "started" {
		t.Fatalf("output %q (err %v)", res.Tail, err)
	}
}
