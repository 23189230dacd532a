package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/goccy/go-yaml"

	"github.com/bluegreen/bluegreen"
	"github.com/bluegreen/bluegreen/api"
	"github.com/bluegreen/bluegreen/internal/ghactions"
	"github.com/bluegreen/bluegreen/internal/textout"
)

// The shipped GitHub Actions workflows (examples/github-actions) are run here
// as GitHub would run them: their `run:` steps in order, with bash, against a
// real `bluegreen serve`, with the environment a runner gives a step.

const workflowDir = "../../examples/github-actions"

// ghWorkflow is the part of a workflow file the test understands. It is
// decoded strictly: a key the test does not know (an `if:`, a matrix, a
// second job...) fails the test instead of being silently ignored.
type ghWorkflow struct {
	Name string `yaml:"name"`
	On   struct {
		WorkflowDispatch *struct {
			Inputs map[string]ghInput `yaml:"inputs"`
		} `yaml:"workflow_dispatch"`
	} `yaml:"on"`
	Permissions map[string]string `yaml:"permissions"`
	Concurrency string            `yaml:"concurrency"`
	Env         map[string]string `yaml:"env"`
	Jobs        map[string]ghJob  `yaml:"jobs"`
}

type ghInput struct {
	Description string   `yaml:"description"`
	Type        string   `yaml:"type"`
	Options     []string `yaml:"options"`
	Required    bool     `yaml:"required"`
	Default     string   `yaml:"default"`
}

type ghJob struct {
	RunsOn         string            `yaml:"runs-on"`
	TimeoutMinutes int               `yaml:"timeout-minutes"`
	Defaults       ghDefaults        `yaml:"defaults"`
	Env            map[string]string `yaml:"env"`
	Steps          []ghStep          `yaml:"steps"`
}

type ghDefaults struct {
	Run struct {
		Shell string `yaml:"shell"`
	} `yaml:"run"`
}

type ghStep struct {
	ID   string            `yaml:"id"`
	Name string            `yaml:"name"`
	Uses string            `yaml:"uses"`
	With map[string]string `yaml:"with"`
	Env  map[string]string `yaml:"env"`
	Run  string            `yaml:"run"`
}

// loadWorkflow reads and checks a shipped workflow file: one job, bash,
// only expressions the test can evaluate, and an install step.
func loadWorkflow(t *testing.T, name string) (ghWorkflow, ghJob) {
	t.Helper()
	path := filepath.Join(workflowDir, name)
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var wf ghWorkflow
	if err := yaml.UnmarshalWithOptions(data, &wf, yaml.Strict()); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	if len(wf.Jobs) != 1 {
		t.Fatalf("%s: %d jobs; the test runs workflows of one job", path, len(wf.Jobs))
	}
	var job ghJob
	for _, j := range wf.Jobs {
		job = j
	}
	if job.Defaults.Run.Shell != "bash" {
		t.Fatalf("%s: defaults.run.shell is %q; the shipped workflows run bash (with -eo pipefail)", path, job.Defaults.Run.Shell)
	}
	ids := map[string]bool{}
	install := false
	for _, st := range job.Steps {
		if st.Uses != "" && st.Run != "" {
			t.Fatalf("%s: step %q has both uses and run", path, st.Name)
		}
		if st.ID != "" {
			ids[st.ID] = true
		}
		if st.ID == "install" {
			install = true
			if !strings.Contains(st.Run, `go install "github.com/bluegreen/bluegreen/cmd/bluegreen@$BLUEGREEN_VERSION"`) {
				t.Errorf("%s: the install step does not install bluegreen as documented: %q", path, st.Run)
			}
		}
	}
	if !install {
		t.Fatalf("%s: no step with id: install", path)
	}
	// Every expression in the file must be one the test evaluates exactly.
	all := strings.Count(string(data), "${{")
	exprs := ghExpr.FindAllStringSubmatch(string(data), -1)
	if len(exprs) != all {
		t.Fatalf("%s: %d expressions, of which only %d are simple names the test can evaluate", path, all, len(exprs))
	}
	for _, m := range exprs {
		if err := checkExpr(m[1], wf, ids); err != nil {
			t.Fatalf("%s: ${{ %s }}: %v", path, m[1], err)
		}
	}
	for _, k := range []string{"BLUEGREEN_SERVER", "BLUEGREEN_TOKEN"} {
		if job.Env[k] != "${{ secrets."+k+" }}" {
			t.Errorf("%s: the job's env %s = %q, want it from the repository secret", path, k, job.Env[k])
		}
	}
	return wf, job
}

var ghExpr = regexp.MustCompile(`\$\{\{\s*([A-Za-z0-9_.-]+)\s*\}\}`)

// checkExpr accepts exactly the expressions the shipped files use.
func checkExpr(e string, wf ghWorkflow, stepIDs map[string]bool) error {
	parts := strings.Split(e, ".")
	switch {
	case e == "secrets.BLUEGREEN_SERVER" || e == "secrets.BLUEGREEN_TOKEN" || e == "vars.BLUEGREEN_PREVIEW_URL":
		return nil
	case len(parts) == 2 && parts[0] == "inputs":
		if wf.On.WorkflowDispatch == nil {
			return fmt.Errorf("the workflow has no workflow_dispatch inputs")
		}
		if _, ok := wf.On.WorkflowDispatch.Inputs[parts[1]]; !ok {
			return fmt.Errorf("input %q is not declared", parts[1])
		}
		return nil
	case len(parts) == 4 && parts[0] == "steps" && parts[2] == "outputs":
		if !stepIDs[parts[1]] {
			return fmt.Errorf("no step with id %q", parts[1])
		}
		if !slices.Contains(ghactions.OutputNames, parts[3]) {
			return fmt.Errorf("output %q is not one bluegreen documents (%v)", parts[3], ghactions.OutputNames)
		}
		return nil
	}
	return fmt.Errorf("an expression the test does not know")
}

// ghRun is what GitHub would give one workflow run.
type ghRun struct {
	runID   string
	inputs  map[string]string
	secrets map[string]string
	vars    map[string]string
}

// stepResult is how one step of a workflow run went.
type stepResult struct {
	id, name string
	exit     int
	log      string            // stdout and stderr
	outputs  map[string]string // parsed from its GITHUB_OUTPUT file
	summary  string            // its GITHUB_STEP_SUMMARY file
}

// workflowResult is a workflow run: the steps that ran, in order.
type workflowResult struct {
	file  string
	steps []stepResult
}

// step returns the step with id, failing the test when it did not run.
func (w *workflowResult) step(t *testing.T, id string) stepResult {
	t.Helper()
	for _, s := range w.steps {
		if s.id == id {
			return s
		}
	}
	t.Fatalf("%s: step %q did not run; steps: %+v", w.file, id, w.steps)
	return stepResult{}
}

// runWorkflow runs the `run:` steps of a shipped workflow in order, skipping
// `uses:` steps and the install step (the test's binary is first on PATH),
// and stops at the first failing step, as GitHub does.
func runWorkflow(t *testing.T, name string, run ghRun) *workflowResult {
	t.Helper()
	wf, job := loadWorkflow(t, name)
	inputs := map[string]string{}
	if wf.On.WorkflowDispatch != nil {
		for k, in := range wf.On.WorkflowDispatch.Inputs {
			v, given := run.inputs[k]
			if !given {
				v = in.Default
			}
			if in.Required && v == "" {
				t.Fatalf("%s: required input %q not given", name, k)
			}
			if in.Type == "choice" && !slices.Contains(in.Options, v) {
				t.Fatalf("%s: input %q = %q is not one of %v", name, k, v, in.Options)
			}
			inputs[k] = v
		}
	}
	for k := range run.inputs {
		if _, ok := inputs[k]; !ok {
			t.Fatalf("%s: input %q is not declared", name, k)
		}
	}
	tmp := t.TempDir()
	workspace := filepath.Join(tmp, "workspace")
	runnerTemp := filepath.Join(tmp, "runner-temp")
	for _, d := range []string{workspace, runnerTemp} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	steps := map[string]map[string]string{}
	eval := func(s string) string {
		return ghExpr.ReplaceAllStringFunc(s, func(m string) string {
			parts := strings.Split(ghExpr.FindStringSubmatch(m)[1], ".")
			switch parts[0] {
			case "secrets":
				return run.secrets[parts[1]]
			case "vars":
				return run.vars[parts[1]]
			case "inputs":
				return inputs[parts[1]]
			case "steps":
				return steps[parts[1]][parts[3]]
			}
			t.Fatalf("%s: unexpected expression %s", name, m)
			return ""
		})
	}
	base := []string{
		"PATH=" + filepath.Dir(binPath) + ":/usr/local/bin:/usr/bin:/bin",
		"HOME=" + tmp,
		"LANG=C.UTF-8",
		"CI=true",
		"GITHUB_ACTIONS=true",
		"GITHUB_ACTOR=octocat",
		"GITHUB_REPOSITORY=datatruck/backend",
		"GITHUB_RUN_ID=" + run.runID,
		"GITHUB_RUN_ATTEMPT=1",
		"GITHUB_SERVER_URL=https://github.com",
		"GITHUB_WORKFLOW=" + wf.Name,
		"GITHUB_EVENT_NAME=workflow_dispatch",
		"GITHUB_WORKSPACE=" + workspace,
		"RUNNER_TEMP=" + runnerTemp,
		"RUNNER_OS=Linux",
	}
	res := &workflowResult{file: name}
	for i, st := range job.Steps {
		if st.Uses != "" || st.ID == "install" {
			t.Logf("%s: skipping step %d (%s%s)", name, i, st.Uses, st.Name)
			continue
		}
		files := map[string]string{}
		for _, k := range []string{"GITHUB_OUTPUT", "GITHUB_STEP_SUMMARY", "GITHUB_ENV", "GITHUB_PATH"} {
			files[k] = filepath.Join(runnerTemp, fmt.Sprintf("%s_%d", strings.ToLower(k), i))
			if err := os.WriteFile(files[k], nil, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		env := slices.Clone(base)
		for _, m := range []map[string]string{wf.Env, job.Env, st.Env} {
			for k, v := range m {
				env = append(env, k+"="+eval(v))
			}
		}
		for k, f := range files {
			env = append(env, k+"="+f)
		}
		script := filepath.Join(runnerTemp, fmt.Sprintf("step_%d.sh", i))
		if err := os.WriteFile(script, []byte(eval(st.Run)), 0o644); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		cmd := exec.CommandContext(ctx, "/bin/bash", "--noprofile", "--norc", "-eo", "pipefail", script)
		cmd.Dir, cmd.Env = workspace, env
		var log bytes.Buffer
		cmd.Stdout, cmd.Stderr = &log, &log
		err := cmd.Run()
		cancel()
		sr := stepResult{id: st.ID, name: st.Name, log: log.String()}
		if ee, ok := err.(*exec.ExitError); ok {
			sr.exit = ee.ExitCode()
		} else if err != nil {
			t.Fatalf("%s: step %q: %v", name, st.Name, err)
		}
		out, _ := os.ReadFile(files["GITHUB_OUTPUT"])
		sr.outputs = parseGitHubOutput(t, string(out))
		sum, _ := os.ReadFile(files["GITHUB_STEP_SUMMARY"])
		sr.summary = string(sum)
		if st.ID != "" {
			steps[st.ID] = sr.outputs
		}
		t.Logf("%s: step %q exited %d\n%s\noutputs: %q\nsummary:\n%s", name, st.Name, sr.exit, sr.log, sr.outputs, sr.summary)
		res.steps = append(res.steps, sr)
		if sr.exit != 0 {
			break
		}
	}
	return res
}

// parseGitHubOutput reads a GITHUB_OUTPUT file the way the runner does:
// name=value lines, and name<<DELIMITER blocks ended by a line DELIMITER.
func parseGitHubOutput(t *testing.T, text string) map[string]string {
	t.Helper()
	out, err := ghactions.ParseOutputs(text)
	if err != nil {
		t.Fatalf("%v in:\n%s", err, text)
	}
	return out
}

// wantOutputs checks a step's outputs: each name has the given value, or
// any non-empty one for "*".
func wantOutputs(t *testing.T, w *workflowResult, id string, want map[string]string) stepResult {
	t.Helper()
	s := w.step(t, id)
	for k, v := range want {
		got, ok := s.outputs[k]
		if !ok || (v == "*" && got == "") || (v != "*" && got != v) {
			t.Errorf("%s: step %s: output %s = %q, want %q (outputs %v)", w.file, id, k, got, v, s.outputs)
		}
	}
	return s
}

// wantText checks that text contains every piece.
func wantText(t *testing.T, what, text string, pieces ...string) {
	t.Helper()
	for _, p := range pieces {
		if !strings.Contains(text, p) {
			t.Errorf("%s lacks %q:\n%s", what, p, text)
		}
	}
}

// workflowToken creates the BLUEGREEN_TOKEN secret the workflows get, as
// the README tells: a deployer token named github-actions.
func workflowToken(t *testing.T, s *server) string {
	t.Helper()
	nt := decodeJSON[api.NewToken](t, s.mustCLI(t, "token", "create", "--name", "github-actions", "--role", "deployer", "-o", "json"))
	if nt.Secret == "" || nt.Token.Role != bluegreen.RoleDeployer {
		t.Fatalf("token create: %+v", nt)
	}
	return nt.Secret
}

// hostEnv is the test's environment without what a CI runner around the
// test (GitHub Actions itself) or the developer's shell may have set for
// bluegreen, plus extra.
func hostEnv(extra ...string) []string {
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if !strings.HasPrefix(k, "GITHUB_") && !strings.HasPrefix(k, "RUNNER_") && !strings.HasPrefix(k, "BLUEGREEN_") {
			env = append(env, kv)
		}
	}
	return append(env, extra...)
}

// TestWorkflowDeploySwitchRollback runs the shipped workflows through the
// seed's cycle: Deployment to Blue (the first deploy, into the live color),
// a DNS Update refused because green has nothing healthy, Deployment to
// Green, DNS Update to green, status, rollback. The outputs and summaries
// hold what the README promises, and the history shows each operation with
// the GitHub actor and run.
func TestWorkflowDeploySwitchRollback(t *testing.T) {
	r := newAppRepo(t)
	blueSHA := git(t, r.dir, "rev-parse", "production")
	greenSHA := r.commit(t, "green", "green v2", map[string]string{"VERSION": "v2\n"})
	dir := t.TempDir()
	// verify_on_deploy off: the workflows' own verify step runs.
	cfg := writeAppConfigWith(t, dir, r, "watch: {enabled: false}",
		"  verify_on_deploy: false\n  checks:\n    - {name: home, http: {path: /healthz}}\n    - {name: intact, command: 'test ! -f FAIL_CHECK'}")
	t.Cleanup(func() { stopApps(t, filepath.Join(dir, "state")) })
	s := startServe(t, cfg)
	secrets := map[string]string{"BLUEGREEN_SERVER": "http://" + s.apiAd, "BLUEGREEN_TOKEN": workflowToken(t, s)}
	vars := map[string]string{"BLUEGREEN_PREVIEW_URL": "https://preview.datatruck.test"}
	wfRun := func(file, id string, inputs map[string]string) *workflowResult {
		t.Helper()
		return runWorkflow(t, file, ghRun{runID: id, inputs: inputs, secrets: secrets, vars: vars})
	}

	// Deployment to Blue: the default ref is the production branch.
	w := wfRun("deploy-blue.yml", "7001", nil)
	if n := len(w.steps); n != 3 {
		t.Fatalf("deploy-blue ran %d steps, want deploy, verify, show: %+v", n, w.steps)
	}
	d := wantOutputs(t, w, "deploy", map[string]string{"outcome": "ok", "color": "blue", "target": "blue",
		"sha": blueSHA, "ref": "production", "deployment_id": "*", "promoted": "false"})
	if _, ok := d.outputs["verified"]; ok {
		t.Errorf("deploy without verify_on_deploy wrote verified=%q", d.outputs["verified"])
	}
	blueDeployment := d.outputs["deployment_id"]
	wantText(t, "deploy-blue's deploy summary", d.summary, "### bluegreen deploy blue: ok", blueSHA, blueDeployment, "| live color | blue |")
	v := wantOutputs(t, w, "verify", map[string]string{"outcome": "ok", "verified": "true", "target": "blue",
		"sha": blueSHA, "deployment_id": blueDeployment, "color": "blue"})
	wantText(t, "deploy-blue's verify summary", v.summary, "### bluegreen verify blue: ok", "3 of 3 passed")
	wantText(t, "deploy-blue's last step", w.steps[2].log, "blue runs "+blueSHA+" (deployment "+blueDeployment+"); the live color is blue")
	if strings.Contains(w.steps[2].log, "QA it") {
		t.Errorf("deploy-blue into the live color asks for QA before a switch:\n%s", w.steps[2].log)
	}

	// DNS Update to green while green runs nothing: refused, and the step
	// fails with the outputs saying so; the next step does not run.
	w = wfRun("switch-traffic.yml", "7002", map[string]string{"color": "green", "reason": "too early"})
	if n := len(w.steps); n != 1 || w.steps[0].exit != 1 {
		t.Fatalf("a refused switch: steps %+v, want one step exiting 1", w.steps)
	}
	sw := wantOutputs(t, w, "switch", map[string]string{"outcome": "refused", "color": "blue", "target": "green", "error": "*"})
	wantText(t, "the refused switch's summary", sw.summary, "### bluegreen switch green: refused", "**refused**: ")

	// Deployment to Green, then DNS Update to green.
	w = wfRun("deploy-green.yml", "7003", map[string]string{"reason": "release 2"})
	d = wantOutputs(t, w, "deploy", map[string]string{"outcome": "ok", "color": "blue", "target": "green",
		"sha": greenSHA, "ref": "green", "deployment_id": "*", "preview_url": "http://" + s.preview})
	greenDeployment := d.outputs["deployment_id"]
	wantOutputs(t, w, "verify", map[string]string{"verified": "true", "sha": greenSHA, "deployment_id": greenDeployment})
	wantText(t, "deploy-green's last step", w.steps[2].log, "green runs "+greenSHA+" (deployment "+greenDeployment+"); the live color is blue",
		"QA it at http://"+s.preview+", then run DNS Update")

	w = wfRun("switch-traffic.yml", "7004", map[string]string{"color": "green", "reason": "QA passed"})
	sw = wantOutputs(t, w, "switch", map[string]string{"outcome": "ok", "color": "green", "target": "green",
		"from": "blue", "to": "green", "switch_ms": "*", "forced": "false", "sha": greenSHA, "deployment_id": greenDeployment})
	if ms, err := strconv.ParseFloat(sw.outputs["switch_ms"], 64); err != nil || ms <= 0 {
		t.Errorf("switch_ms = %q, want a positive number", sw.outputs["switch_ms"])
	}
	wantText(t, "the switch's summary", sw.summary, "### bluegreen switch green: ok", "| from | blue |", "| to | green |", "| drain | ")
	wantText(t, "switch-traffic's last step", w.steps[1].log, "live: blue -> green, running "+greenSHA)

	w = wfRun("status.yml", "7005", nil)
	st := wantOutputs(t, w, "status", map[string]string{"outcome": "ok", "color": "green", "previous": "blue",
		"inactive": "blue", "sha": greenSHA, "deployment_id": greenDeployment})
	wantText(t, "the status summary", st.summary, "### bluegreen status: ok", "| live color | green |", textout.Short(blueSHA)+" production")
	wantText(t, "status's last step", w.steps[1].log, "live: green running "+greenSHA+"; the next deploy goes into blue")

	w = wfRun("rollback.yml", "7006", map[string]string{"reason": "orders page broken"})
	wantOutputs(t, w, "rollback", map[string]string{"outcome": "ok", "color": "blue", "target": "blue",
		"from": "green", "to": "blue", "sha": blueSHA, "deployment_id": blueDeployment})
	wantText(t, "rollback's last step", w.steps[1].log, "rolled back green -> blue; live runs "+blueSHA)

	// A release that fails a check: the verify step fails, and its outputs
	// and summary say which check.
	brokenSHA := r.commit(t, "green", "broken", map[string]string{"FAIL_CHECK": "1\n"})
	w = wfRun("deploy-green.yml", "7007", nil)
	if n := len(w.steps); n != 2 || w.steps[1].exit != 1 {
		t.Fatalf("deploy-green of a release failing a check: steps %+v, want deploy ok, verify exiting 1", w.steps)
	}
	v = wantOutputs(t, w, "verify", map[string]string{"outcome": "failed", "verified": "false", "color": "blue",
		"sha": brokenSHA, "error": "*"})
	wantText(t, "the failed verification's summary", v.summary, "### bluegreen verify green: failed", "| checks | 2 of 3 passed |",
		"- check `intact` failed: ")

	// The history tells who did what from which run.
	evs := decodeJSON[[]bluegreen.Event](t, s.mustCLI(t, "history", "-o", "json", "--limit", "500"))
	type want struct {
		action      bluegreen.Action
		outcome     bluegreen.Outcome
		color       bluegreen.Color
		run, reason string
	}
	for _, wnt := range []want{
		{bluegreen.ActionDeploy, bluegreen.OutcomeOK, bluegreen.Blue, "7001", ""},
		{bluegreen.ActionVerify, bluegreen.OutcomeOK, bluegreen.Blue, "7001", "Deployment to Blue, run 7001"},
		{bluegreen.ActionSwitch, bluegreen.OutcomeRefused, bluegreen.Green, "7002", ""},
		{bluegreen.ActionDeploy, bluegreen.OutcomeOK, bluegreen.Green, "7003", ""},
		{bluegreen.ActionVerify, bluegreen.OutcomeOK, bluegreen.Green, "7003", "Deployment to Green, run 7003"},
		{bluegreen.ActionSwitch, bluegreen.OutcomeOK, bluegreen.Green, "7004", "DNS Update, run 7004: QA passed"},
		{bluegreen.ActionRollback, bluegreen.OutcomeOK, bluegreen.Blue, "7006", "Rollback, run 7006: orders page broken"},
	} {
		found := false
		for _, e := range evs {
			if e.Action != wnt.action || e.Outcome != wnt.outcome || e.Color != wnt.color || !strings.Contains(e.Actor, " run "+wnt.run) {
				continue
			}
			found = true
			if !strings.HasPrefix(e.Actor, "github:octocat") || e.Details["token"] != "github-actions" ||
				e.Details["run_url"] != "https://github.com/datatruck/backend/actions/runs/"+wnt.run {
				t.Errorf("event %d: actor %q, token %v, run_url %v; want octocat with the github-actions token and the run's link",
					e.ID, e.Actor, e.Details["token"], e.Details["run_url"])
			}
			if wnt.reason != "" && fmt.Sprint(e.Details["reason"]) != wnt.reason {
				t.Errorf("event %d (%s %s): reason %v, want %q", e.ID, e.Action, e.Outcome, e.Details["reason"], wnt.reason)
			}
			break
		}
		if !found {
			t.Errorf("no %s %s event for %s by run %s in the history:\n%s", wnt.action, wnt.outcome, wnt.color, wnt.run,
				s.mustCLI(t, "history", "--limit", "100"))
		}
	}

	// Outputs that cannot be written fail a verb that succeeded, saying so.
	cmd := exec.Command(binPath, "status", "--server", s.apiAd, "--token", s.token)
	cmd.Env = hostEnv("GITHUB_OUTPUT=" + filepath.Join(t.TempDir(), "missing", "out"))
	out, err := cmd.CombinedOutput()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 1 ||
		!strings.Contains(string(out), "status succeeded, but its GitHub Actions outputs are incomplete: writing GITHUB_OUTPUT") {
		t.Errorf("status with an unwritable GITHUB_OUTPUT: %v\n%s", err, out)
	}
}

// TestWorkflowTimeout: a deploy that outlives --timeout exits 3 with where to
// follow it, its outputs say timeout and name the deployment, and the
// deployment goes on to succeed on the server. Then Deployment to Green with
// verify_on_deploy (the default) reports verified=true from the deploy step
// and its verify step does not verify again.
func TestWorkflowTimeout(t *testing.T) {
	r := newAppRepo(t)
	greenSHA := r.commit(t, "green", "slow build", map[string]string{"SLOW_BUILD": "1\n"})
	dir := t.TempDir()
	cfg := writeAppConfigWith(t, dir, r, "watch: {enabled: false}", "")
	t.Cleanup(func() { stopApps(t, filepath.Join(dir, "state")) })
	s := startServe(t, cfg)
	s.mustCLI(t, "deploy", "blue")

	if _, errOut, code := s.cli(t, "deploy", "green", "--timeout", "-1s"); code != 2 || !strings.Contains(errOut, "--timeout -1s") {
		t.Errorf("deploy --timeout -1s: exit %d, %q; want exit 2 naming the flag", code, errOut)
	}

	outFile := filepath.Join(t.TempDir(), "output")
	sumFile := filepath.Join(t.TempDir(), "summary")
	cmd := exec.Command(binPath, "deploy", "green", "--timeout", "1s", "--server", s.apiAd, "--token", s.token)
	cmd.Env = hostEnv("GITHUB_OUTPUT="+outFile, "GITHUB_STEP_SUMMARY="+sumFile, "BLUEGREEN_ACTOR=e2e-tester")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	start := time.Now()
	err := cmd.Run()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 3 {
		t.Fatalf("deploy --timeout 1s of a build that waits: %v, want exit 3\n%s", err, stderr.String())
	}
	if el := time.Since(start); el > 15*time.Second {
		t.Errorf("deploy --timeout 1s returned after %s", el)
	}
	data, _ := os.ReadFile(outFile)
	outputs := parseGitHubOutput(t, string(data))
	id := outputs["deployment_id"]
	if outputs["outcome"] != "timeout" || outputs["target"] != "green" || outputs["color"] != "blue" || id == "" ||
		!strings.Contains(outputs["error"], "timed out after 1s") {
		t.Errorf("outputs after the timeout: %v", outputs)
	}
	wantText(t, "stderr after the timeout", stderr.String(), "bluegreen: timed out after 1s; deployment "+id+
		" into green may still be running on the server: follow it with bluegreen deployments show "+id+" --follow")
	sum, _ := os.ReadFile(sumFile)
	wantText(t, "the summary after the timeout", string(sum), "### bluegreen deploy green: timeout", "**timeout**: timed out after 1s")

	// The deployment was not abandoned: let its build go on and follow it.
	if err := os.WriteFile(r.gate, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	out := s.mustCLI(t, "deployments", "show", id, "--follow")
	wantText(t, "deployments show --follow", out, "deployment "+id+": green ref green ("+textout.Short(greenSHA)+")", "succeeded")

	// Deployment to Green again (the gate file is there: the build goes
	// straight through): the deploy verifies, the verify step says so.
	w := runWorkflow(t, "deploy-green.yml", ghRun{runID: "7101", secrets: map[string]string{
		"BLUEGREEN_SERVER": s.apiAd, "BLUEGREEN_TOKEN": workflowToken(t, s)}})
	wantOutputs(t, w, "deploy", map[string]string{"outcome": "ok", "verified": "true", "sha": greenSHA, "promoted": "false"})
	v := w.step(t, "verify")
	if v.exit != 0 || strings.TrimSpace(v.log) != "verified by the deploy" || len(v.outputs) != 0 {
		t.Errorf("the verify step after a deploy that verified: exit %d, log %q, outputs %v", v.exit, v.log, v.outputs)
	}
	wantText(t, "deploy-green's last step", w.steps[2].log, "QA it at http://"+s.preview)
}

// TestCIOutcome: how a verb's error reads as the outcome output; an exit-3
// error is a timeout (the format itself is internal/ghactions' test).
func TestCIOutcome(t *testing.T) {
	for _, c := range []struct {
		err  error
		want string
	}{
		{nil, ghactions.OutcomeOK},
		{bluegreen.Errorf(bluegreen.EREFUSED, "unhealthy"), ghactions.OutcomeRefused},
		{bluegreen.Errorf(bluegreen.ECONFLICT, "locked"), ghactions.OutcomeRefused},
		{&exitError{code: exitTimeout, err: fmt.Errorf("timed out")}, ghactions.OutcomeTimeout},
		{bluegreen.Errorf(bluegreen.EUNAVAILABLE, "down"), ghactions.OutcomeFailed},
	} {
		if got := ciOutcome(c.err); got != c.want {
			t.Errorf("ciOutcome(%v) = %s, want %s", c.err, got, c.want)
		}
	}
}
