package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// runDemoBinary runs the built binary's demo with TMPDIR set to tmp, so that
// the demo's temporary directory, and everything it starts there, is found
// under tmp. Apps a killed demo left behind are stopped at cleanup.
func runDemoBinary(t *testing.T, tmp string, env []string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	t.Cleanup(func() {
		dirs, _ := filepath.Glob(filepath.Join(tmp, "bluegreen-demo-*"))
		for _, d := range dirs {
			stopApps(t, filepath.Join(d, "state"))
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, binPath, args...)
	cmd.Env = append(append(os.Environ(), "TMPDIR="+tmp), env...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	if ctx.Err() != nil {
		t.Fatalf("bluegreen %v did not end within 4m\nstdout:\n%s\nstderr:\n%s", args, out.String(), errb.String())
	}
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return out.String(), errb.String(), code
}

// processesUnder lists the processes whose command line or working
// directory mentions dir, as "pid: command line [cwd]", and their pids.
func processesUnder(t *testing.T, dir string) ([]string, []int) {
	t.Helper()
	pids, err := filepath.Glob("/proc/[0-9]*")
	if err != nil {
		t.Fatal(err)
	}
	var (
		found []string
		ids   []int
	)
	for _, p := range pids {
		cmdline, err := os.ReadFile(filepath.Join(p, "cmdline"))
		if err != nil {
			continue // gone meanwhile
		}
		cwd, _ := os.Readlink(filepath.Join(p, "cwd"))
		line := strings.TrimSpace(string(bytes.ReplaceAll(cmdline, []byte{0}, []byte{' '})))
		if strings.Contains(line, dir) || strings.Contains(cwd, dir) {
			found = append(found, fmt.Sprintf("%s: %s [%s]", filepath.Base(p), line, cwd))
			id, _ := strconv.Atoi(filepath.Base(p))
			ids = append(ids, id)
		}
	}
	return found, ids
}

// assertNoProcessesUnder fails the test if a process started from dir is
// still running shortly after the demo ended (a stopped process may take a
// moment to be reaped). Those it finds are killed, by pid, so that a failed
// run does not leave them behind.
func assertNoProcessesUnder(t *testing.T, dir string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		left, pids := processesUnder(t, dir)
		if len(left) == 0 {
			return
		}
		if time.Now().After(deadline) {
			for _, pid := range pids {
				_ = syscall.Kill(pid, syscall.SIGKILL)
			}
			t.Fatalf("the demo left processes running (now killed):\n%s", strings.Join(left, "\n"))
		}
		time.Sleep(50 * time.Millisecond) // polling the process table, not synchronising
	}
}

// TestDemoStory: `bluegreen demo` tells the whole cycle on the sample app
// (deploys, verification, switches under load with a slow request drained,
// the watch passing, sync, a bad release rolled back automatically with its
// figures, sync again), ends with "0 failed", exits 0, and leaves neither
// its directory nor any process behind.
func TestDemoStory(t *testing.T) {
	tmp := t.TempDir()
	out, errOut, code := runDemoBinary(t, tmp, nil, "demo", "--switches", "3")
	if code != 0 {
		t.Fatalf("demo: exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
	for _, want := range []string{
		"Deploy blue (branch production, v1)",
		"deployed production (",
		"Deploy green (branch green, v2) into the inactive color",
		"[  0.", // green's deploy steps, with their elapsed time
		"verification passed (health ok",
		`QA on the preview address: {"app":"sample","color":"green","version":"v2"`,
		"deployed green (",
		"3 switches under load",
		"the slow request started before the switch: 200 OK after 1.",
		`answered by blue: {"color":"blue","slept_ms":1500}`,
		"#3  blue  → green",
		"green passed the watch:",
		"Sync: blue gets green's exact commit",
		"A bad release: deploy bad-release (v3) into blue",
		"deployed bad-release (",
		"Switch to blue (the bad release) under load",
		"and rolled back by itself: green was live again",
		`The history says, by "bluegreen (watch)":`,
		"automatically rolled back traffic from blue to green: 5xx ratio",
		"Sync again: blue gets green's commit back",
		"requests answered 500 by the bad release itself, which is what the watch caught",
		"/deployment/color/ says green",
		"blue runs the same commit",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("the story does not say %q", want)
		}
	}
	for _, l := range strings.Split(out, "\n") {
		if strings.Contains(l, " → ") && !strings.Contains(l, ", 0 cut)") {
			t.Errorf("a switch cut requests: %s", l)
		}
	}
	m := regexp.MustCompile(`the watch saw a 5xx ratio of ([0-9.]+)% \((\d+) of (\d+) requests\), above its threshold of 5\.0%`).FindStringSubmatch(out)
	if m == nil {
		t.Errorf("the story does not give the rollback's figures")
	} else if ratio, _ := strconv.ParseFloat(m[1], 64); ratio < 10 || ratio > 40 {
		t.Errorf("the watch saw a 5xx ratio of %v%%; the bad release fails 1 request in 4", ratio)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if last := lines[len(lines)-1]; last != "0 failed" {
		t.Errorf("the last line is %q, want \"0 failed\"", last)
	}

	// The demo worked in a directory of its own under TMPDIR, said so,
	// removed it and stopped everything it started there.
	wd := regexp.MustCompile(`working directory (\S+)\)`).FindStringSubmatch(out)
	if wd == nil || !strings.HasPrefix(wd[1], filepath.Join(tmp, "bluegreen-demo-")) {
		t.Errorf("the story does not name its working directory under %s: %v", tmp, wd)
	} else if _, err := os.Stat(wd[1]); !os.IsNotExist(err) {
		t.Errorf("the demo's directory %s is still there (stat: %v)", wd[1], err)
	}
	assertNoProcessesUnder(t, tmp)
	if t.Failed() {
		t.Logf("stdout:\n%s\nstderr:\n%s", out, errOut)
	}
}

// demoJSON is the documented shape of `bluegreen demo -o json`.
type demoJSON struct {
	Dir            string           `json:"dir"`
	Requests       int64            `json:"requests"`
	Failed         int64            `json:"failed"`
	Failures       map[string]int64 `json:"failures"`
	BadRelease500s int64            `json:"bad_release_500s"`
	ByColor        map[string]int64 `json:"by_color"`
	Deployments    []struct {
		Color    string `json:"color"`
		Ref      string `json:"ref"`
		SHA      string `json:"sha"`
		Sync     bool   `json:"sync"`
		Verified bool   `json:"verified"`
	} `json:"deployments"`
	Switches []struct {
		From, To string
		SwitchMS float64 `json:"switch_ms"`
	} `json:"switches"`
	AutomaticRollback *struct {
		From, To      string
		AfterMS       float64 `json:"after_ms"`
		Requests      int64   `json:"requests"`
		Errors        int64   `json:"errors_5xx"`
		ErrorRatio    float64 `json:"error_ratio"`
		MaxErrorRatio float64 `json:"max_error_ratio"`
		MinRequests   int64   `json:"min_requests"`
		Actor         string  `json:"actor"`
	} `json:"automatic_rollback"`
	FinalColor string         `json:"final_color"`
	FinalSHA   string         `json:"final_sha"`
	History    map[string]int `json:"history"`
}

// TestDemoJSON: `demo -o json` prints one summary object with the
// deployments, the switches, the automatic rollback and its figures, and
// the bad release's 500s counted apart from the failures (none). With
// --keep the directory stays, holding the supervisors' state of the apps
// that ran, and still no process is left.
func TestDemoJSON(t *testing.T) {
	tmp := t.TempDir()
	out, errOut, code := runDemoBinary(t, tmp, nil, "demo", "-o", "json", "--switches", "2", "--keep")
	if code != 0 {
		t.Fatalf("demo -o json: exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
	var s demoJSON
	if err := json.Unmarshal([]byte(out), &s); err != nil {
		t.Fatalf("demo -o json did not print one JSON object: %v\n%s", err, out)
	}
	if s.Requests == 0 || s.Failed != 0 || s.ByColor["blue"] == 0 || s.ByColor["green"] == 0 {
		t.Errorf("load figures: %d requests, %d failed, by color %v", s.Requests, s.Failed, s.ByColor)
	}
	if s.BadRelease500s == 0 || len(s.Failures) != 1 || s.Failures["status 500"] != s.BadRelease500s {
		t.Errorf("failures %v, bad release's 500s %d: want only the bad release's 500s", s.Failures, s.BadRelease500s)
	}
	wantRefs := []string{"production", "green", "sync", "bad-release", "sync"}
	if len(s.Deployments) != len(wantRefs) {
		t.Fatalf("%d deployments, want %d: %+v", len(s.Deployments), len(wantRefs), s.Deployments)
	}
	for i, d := range s.Deployments {
		ref := d.Ref
		if d.Sync {
			ref = "sync"
		}
		if ref != wantRefs[i] || !d.Verified || len(d.SHA) != 40 {
			t.Errorf("deployment %d: %+v, want %s, verified", i+1, d, wantRefs[i])
		}
	}
	// Two switches end on blue (v1): the bad release goes into green and
	// the watch brings traffic back to blue, which runs production's commit.
	if len(s.Switches) != 3 || s.Switches[2].To != "green" {
		t.Errorf("switches: %+v, want 2 under load and 1 to green", s.Switches)
	}
	rb := s.AutomaticRollback
	if rb == nil {
		t.Fatalf("no automatic_rollback in %s", out)
	}
	if rb.From != "green" || rb.To != "blue" || rb.Actor != "bluegreen (watch)" || rb.MaxErrorRatio != 0.05 ||
		rb.ErrorRatio <= rb.MaxErrorRatio || rb.Requests < rb.MinRequests || rb.MinRequests != 50 ||
		rb.Errors == 0 || rb.AfterMS <= 0 || rb.AfterMS > 5000 {
		t.Errorf("automatic rollback: %+v", *rb)
	}
	if s.FinalColor != "blue" || s.FinalSHA != s.Deployments[0].SHA {
		t.Errorf("final: %s running %s, want blue running production's %s", s.FinalColor, s.FinalSHA, s.Deployments[0].SHA)
	}
	if s.History["rollback"] != 1 || s.History["switch"] != 3 || s.History["verify"] != 5 {
		t.Errorf("history counts %v", s.History)
	}

	if !strings.HasPrefix(s.Dir, filepath.Join(tmp, "bluegreen-demo-")) {
		t.Fatalf("dir %q is not under TMPDIR %s", s.Dir, tmp)
	}
	sups, _ := filepath.Glob(filepath.Join(s.Dir, "state", "run", "*", "*", "supervisor.json"))
	if len(sups) != len(wantRefs) {
		t.Errorf("--keep: %d supervisor states in %s, want one per deployment (%d)", len(sups), s.Dir, len(wantRefs))
	}
	logs, _ := filepath.Glob(filepath.Join(s.Dir, "state", "run", "green", "*", "app.log"))
	var sawV3 bool
	for _, l := range logs {
		b, _ := os.ReadFile(l)
		sawV3 = sawV3 || strings.Contains(string(b), "(green, version v3) listening on")
	}
	if !sawV3 {
		t.Errorf("no app log under %s shows the bad release (v3) running in green", s.Dir)
	}
	assertNoProcessesUnder(t, tmp)
}

// TestDemoWithoutGit: without git on PATH the demo says what it needs and
// exits 2 before starting anything.
func TestDemoWithoutGit(t *testing.T) {
	tmp := t.TempDir()
	_, errOut, code := runDemoBinary(t, tmp, []string{"PATH=" + t.TempDir()}, "demo")
	if code != 2 || !strings.Contains(errOut, "demo needs git on PATH") {
		t.Fatalf("demo without git: exit %d, stderr %q; want exit 2 naming git", code, errOut)
	}
	if dirs, _ := filepath.Glob(filepath.Join(tmp, "bluegreen-demo-*")); len(dirs) != 0 {
		t.Errorf("the demo made %v before finding git missing", dirs)
	}
}
