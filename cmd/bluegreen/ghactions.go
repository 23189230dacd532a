package main

// CI support: GitHub Actions step outputs and summaries (see ghOutputNames),
// and the --timeout of the long verbs.

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/spf13/cobra"

	"github.com/bluegreen/bluegreen"
	"github.com/bluegreen/bluegreen/api"
)

// ghOutputNames lists every GitHub Actions step output a verb may write;
// the workflow tests check the shipped workflows against it.
//
// When GITHUB_OUTPUT is set (inside a GitHub Actions step), deploy, sync,
// verify, switch, rollback and status append step outputs to that file, on
// success and on failure, so that later steps can read them as
// ${{ steps.<id>.outputs.<name> }}:
//
//	outcome        every verb: ok, failed, refused (a gate, the lock or the
//	               token's role said no) or timeout (--timeout expired)
//	error          when outcome is not ok: what went wrong
//	color          every verb: the live color after the command, blue or green
//	               (left out when the status cannot be read)
//	target         deploy, sync, verify, switch, rollback: the color acted on
//	deployment_id  deploy, sync: the deployment (also on failure and timeout,
//	               when known); verify: the verified release's deployment;
//	               switch, rollback, status: the live release's deployment
//	sha            the commit of that release
//	ref            deploy, sync: the ref that was deployed
//	verified       deploy, sync (when the deploy ran the checks: see
//	               app.verify_on_deploy), verify: true or false
//	promoted       deploy, sync: true when app.promotion: auto made the
//	               deployed color live
//	from, to       switch, rollback: the live color before and after
//	switch_ms      switch, rollback: milliseconds from the request to the
//	               router sending new requests to the new color
//	forced         switch, rollback: true when --force overrode a gate
//	previous       status: the color that was live before the last switch
//	inactive       status: the color the next deploy goes into
//	preview_url    every verb: where people reach the preview listener (the
//	               inactive color) for QA: the config's preview_url, else the
//	               listener's own address
//
// Values are written as name=value lines, or in GitHub's heredoc form
// (name<<delimiter, the value, delimiter) when they span lines.
//
// When GITHUB_STEP_SUMMARY is set, the same verbs append a short Markdown
// summary to it: a heading with the verb and its outcome, a table of the
// figures above, and the outcome in a sentence (with the failed checks of a
// verification).
//
// Nothing is written when neither variable is set. A file that cannot be
// written fails a command that otherwise succeeded (exit 1, saying that the
// operation itself succeeded): a later step would read missing outputs.
var ghOutputNames = []string{
	"outcome", "error", "color", "target", "deployment_id", "sha", "ref", "verified", "promoted",
	"from", "to", "switch_ms", "forced", "previous", "inactive", "preview_url",
}

// Outcomes written as the outcome output.
const (
	outcomeOK      = "ok"
	outcomeFailed  = "failed"
	outcomeRefused = "refused"
	outcomeTimeout = "timeout"
)

// ghReport is what one verb tells GitHub Actions.
type ghReport struct {
	title   string      // e.g. "deploy green"
	outputs [][2]string // name, value; in order
	rows    [][2]string // summary table: label, value; in order
	notes   []string    // summary lines after the outcome (e.g. failed checks)
	result  string      // the outcome in a sentence, when the verb succeeded
}

// set adds an output, and a summary row when label is not empty. Empty
// values are left out of both.
func (r *ghReport) set(name, label, value string) {
	if value == "" {
		return
	}
	r.outputs = append(r.outputs, [2]string{name, value})
	if label != "" {
		r.rows = append(r.rows, [2]string{label, value})
	}
}

// ciEnabled reports whether the CLI runs where GitHub Actions reads outputs
// or a step summary.
func ciEnabled() bool {
	return getenv("GITHUB_OUTPUT") != "" || getenv("GITHUB_STEP_SUMMARY") != ""
}

// reportCI writes the step outputs and summary of a verb that ended with
// opErr (nil when it succeeded). build makes the report from the server's
// status after the verb, nil when it could not be read. It returns the
// error the verb should return: opErr, or the failure to write the files
// when the verb itself succeeded.
func (g *globals) reportCI(ctx context.Context, c *api.Client, opErr error, build func(st *bluegreen.Status) *ghReport) error {
	if !ciEnabled() {
		return opErr
	}
	// The verb's own context may have expired (--timeout): read the status
	// with a fresh, short one.
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	var st *bluegreen.Status
	if s, err := c.Status(sctx); err == nil {
		st = &s
	} else {
		fmt.Fprintf(g.stderr, "bluegreen: warning: reading the status for the GitHub outputs: %s\n", errText(err))
	}
	r := build(st)
	if st != nil {
		r.outputs = append([][2]string{{"color", string(st.State.Live)}}, r.outputs...)
		r.rows = append([][2]string{{"live color", string(st.State.Live)}}, r.rows...)
		r.set("preview_url", "preview (QA)", st.PreviewURL)
	}
	outcome := ciOutcome(opErr)
	r.outputs = append([][2]string{{"outcome", outcome}}, r.outputs...)
	if opErr != nil {
		r.outputs = append(r.outputs, [2]string{"error", errText(opErr)})
	}
	werr := writeGitHubOutputs(getenv("GITHUB_OUTPUT"), r.outputs)
	if serr := appendStepSummary(getenv("GITHUB_STEP_SUMMARY"), r.markdown(outcome, opErr)); werr == nil {
		werr = serr
	}
	switch {
	case werr == nil:
		return opErr
	case opErr != nil:
		fmt.Fprintf(g.stderr, "bluegreen: warning: %v\n", werr)
		return opErr
	default:
		return &exitError{code: exitFailed, err: fmt.Errorf("%s succeeded, but its GitHub Actions outputs are incomplete: %w", r.title, werr)}
	}
}

// ciOutcome classifies how a verb ended, for the outcome output.
func ciOutcome(err error) string {
	if err == nil {
		return outcomeOK
	}
	var ee *exitError
	if errors.As(err, &ee) && ee.code == exitTimeout {
		return outcomeTimeout
	}
	switch bluegreen.ErrorCode(err) {
	case bluegreen.EREFUSED, bluegreen.ECONFLICT, bluegreen.EFORBIDDEN:
		return outcomeRefused
	}
	return outcomeFailed
}

// writeGitHubOutputs appends outputs to the GITHUB_OUTPUT file at path (no-op
// when path is empty), in the format GitHub documents: name=value, or for a
// value with a line break name<<DELIM, the value, DELIM, with a random
// delimiter that the value does not contain.
func writeGitHubOutputs(path string, outputs [][2]string) error {
	if path == "" {
		return nil
	}
	var b strings.Builder
	for _, o := range outputs {
		name, value := o[0], o[1]
		if !strings.ContainsAny(value, "\r\n") {
			fmt.Fprintf(&b, "%s=%s\n", name, value)
			continue
		}
		delim, err := heredocDelimiter(value)
		if err != nil {
			return err
		}
		fmt.Fprintf(&b, "%s<<%s\n%s\n%s\n", name, delim, value, delim)
	}
	return appendFile("GITHUB_OUTPUT", path, b.String())
}

// heredocDelimiter returns a delimiter that does not occur in value.
func heredocDelimiter(value string) (string, error) {
	for range 10 {
		var buf [16]byte
		if _, err := rand.Read(buf[:]); err != nil {
			return "", fmt.Errorf("making a GITHUB_OUTPUT delimiter: %w", err)
		}
		d := "ghadelimiter_" + hex.EncodeToString(buf[:])
		if !strings.Contains(value, d) {
			return d, nil
		}
	}
	return "", errors.New("no GITHUB_OUTPUT delimiter that the value does not contain")
}

// appendStepSummary appends md to the GITHUB_STEP_SUMMARY file at path (no-op
// when path is empty).
func appendStepSummary(path, md string) error {
	if path == "" {
		return nil
	}
	return appendFile("GITHUB_STEP_SUMMARY", path, md)
}

func appendFile(what, path, text string) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return fmt.Errorf("writing %s: %w", what, err)
	}
	_, err = f.WriteString(text)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("writing %s (%s): %w", what, path, err)
	}
	return nil
}

// markdown renders the step summary: heading, table, outcome, notes.
func (r *ghReport) markdown(outcome string, opErr error) string {
	var b strings.Builder
	fmt.Fprintf(&b, "### bluegreen %s: %s\n\n", r.title, outcome)
	if len(r.rows) > 0 {
		b.WriteString("| | |\n| --- | --- |\n")
		for _, row := range r.rows {
			fmt.Fprintf(&b, "| %s | %s |\n", mdCell(row[0]), mdCell(row[1]))
		}
		b.WriteString("\n")
	}
	if opErr != nil {
		fmt.Fprintf(&b, "**%s**: %s\n", outcome, mdText(errText(opErr)))
	} else if r.result != "" {
		fmt.Fprintf(&b, "%s\n", mdText(r.result))
	}
	for _, n := range r.notes {
		fmt.Fprintf(&b, "%s\n", n)
	}
	b.WriteString("\n")
	return b.String()
}

// mdText makes server-provided text inert in Markdown: one line, no HTML,
// at most 2000 characters.
func mdText(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > 2000 {
		cut := 2000
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut-- // never split a character
		}
		s = s[:cut] + "…"
	}
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace(s)
}

// mdCell is mdText for a table cell.
func mdCell(s string) string { return strings.ReplaceAll(mdText(s), "|", `\|`) }

// releaseOutputs adds deployment_id and sha of a color's release.
func releaseOutputs(r *ghReport, rel *bluegreen.Release) {
	if rel == nil {
		return
	}
	r.set("deployment_id", "deployment", rel.Deployment)
	r.set("sha", "release", rel.SHA)
}

func boolText(b bool) string { return strconv.FormatBool(b) }

// deployReport is the report of deploy and sync.
func deployReport(req bluegreen.DeployRequest, d bluegreen.Deployment, st *bluegreen.Status) *ghReport {
	target := d.Color
	if target == "" {
		target = req.Color
	}
	if target == "" && st != nil {
		target = st.State.Inactive() // a sync that did not start
	}
	r := &ghReport{title: "deploy " + string(target)}
	if req.Sync {
		r.title = "sync"
	}
	r.set("target", "deployed into", string(target))
	r.set("deployment_id", "deployment", d.ID)
	if d.ID == "" && st != nil && target != "" {
		// A timeout: the deployment is running, the status knows its id.
		if cd := st.State.Colors[target].Deployment; cd != nil && cd.Status == bluegreen.DeploymentRunning {
			r.set("deployment_id", "deployment", cd.ID)
		}
	}
	r.set("ref", "ref", d.Ref)
	r.set("sha", "sha", d.SHA)
	if v := d.Verification; v != nil {
		r.set("verified", "verified", boolText(v.Passed))
		checkNotes(r, *v)
	}
	if d.ID != "" && d.Status != bluegreen.DeploymentRunning {
		r.set("promoted", "", boolText(d.Promoted))
	}
	if d.Status == bluegreen.DeploymentRunning && d.ID != "" {
		r.result = fmt.Sprintf("deployment %s started (--detach): follow it with bluegreen deployments show %s --follow", d.ID, d.ID)
	}
	if d.Status == bluegreen.DeploymentSucceeded {
		r.result = fmt.Sprintf("deployed %s (%s) into %s in %s", d.Ref, short(d.SHA), d.Color,
			d.Ended.Sub(d.Started).Round(time.Millisecond))
		if d.Promoted {
			r.result += "; promotion: auto made it live"
		}
	}
	return r
}

// verifyReport is the report of verify.
func verifyReport(color bluegreen.Color, v bluegreen.Verification, ran bool) *ghReport {
	r := &ghReport{title: "verify " + string(color)}
	r.set("target", "color verified", string(color))
	if !ran {
		return r
	}
	r.set("deployment_id", "deployment", v.Deployment)
	r.set("sha", "release", v.SHA)
	r.set("verified", "passed", boolText(v.Passed))
	passed := 0
	for _, c := range v.Checks {
		if c.OK {
			passed++
		}
	}
	r.rows = append(r.rows, [2]string{"checks", fmt.Sprintf("%d of %d passed", passed, len(v.Checks))})
	checkNotes(r, v)
	if v.Passed {
		r.result = fmt.Sprintf("%s passed verification (%d checks)", color, len(v.Checks))
	}
	return r
}

// checkNotes lists the failed checks of v under the summary.
func checkNotes(r *ghReport, v bluegreen.Verification) {
	for _, c := range append(append([]bluegreen.CheckResult(nil), v.Checks...), v.LiveChecks...) {
		if !c.OK {
			r.notes = append(r.notes, fmt.Sprintf("- check `%s` failed: %s", strings.ReplaceAll(c.Name, "`", "'"), mdText(c.Error)))
		}
	}
	if !v.Passed && v.Reason != "" && len(r.notes) == 0 {
		r.notes = append(r.notes, "- "+mdText(v.Reason))
	}
}

// switchReport is the report of switch and rollback.
func switchReport(verb string, req bluegreen.SwitchRequest, res bluegreen.SwitchResult, st *bluegreen.Status) *ghReport {
	r := &ghReport{title: verb}
	if req.To != "" {
		r.title += " " + string(req.To)
	}
	target := res.To
	if target == "" {
		target = req.To
	}
	if target == "" && st != nil && verb == "rollback" {
		target = st.State.Previous // a refused rollback
	}
	r.set("target", "", string(target))
	if res.To == "" {
		return r
	}
	r.set("from", "from", string(res.From))
	r.set("to", "to", string(res.To))
	if res.Changed {
		r.set("switch_ms", "switch (ms)", strconv.FormatFloat(res.SwitchMS, 'f', 2, 64))
		r.rows = append(r.rows, [2]string{"drain", fmt.Sprintf("%d in flight, %d finished, %d cut",
			res.Drain.InFlight, res.Drain.Finished, res.Drain.Cancelled)})
	}
	r.set("forced", "", boolText(res.Forced))
	for _, gate := range res.ForcedGates {
		r.notes = append(r.notes, "- forced past: "+mdText(gate))
	}
	if st != nil {
		releaseOutputs(r, st.State.Colors[res.To].Release)
	}
	r.result = res.Message
	return r
}

// statusReport is the report of status.
func statusReport(st bluegreen.Status) *ghReport {
	s := st.State
	r := &ghReport{title: "status"}
	r.set("previous", "previous", string(s.Previous))
	r.set("inactive", "inactive (next deploy)", string(s.Inactive()))
	releaseOutputs(r, s.Colors[s.Live].Release)
	for _, c := range bluegreen.Colors {
		cs := s.Colors[c]
		rel := "-"
		if cs.Release != nil {
			rel = short(cs.Release.SHA) + " " + cs.Release.Ref
		}
		r.rows = append(r.rows, [2]string{string(c), fmt.Sprintf("%s; %s; %s", cs.Health.Status, rel, gateText(cs))})
	}
	r.result = fmt.Sprintf("%s is live since %s", s.Live, s.Since.UTC().Format(time.RFC3339))
	return r
}

// addTimeoutFlag adds --timeout to a long verb.
func addTimeoutFlag(cmd *cobra.Command, d *time.Duration) {
	cmd.Flags().DurationVar(d, "timeout", 0,
		"give up waiting after this long (e.g. 10m) and exit 3; the operation may go on on the server (0: wait as long as it takes)")
}

// withTimeout returns ctx bounded by d (unbounded when d is 0), or a usage
// error for a negative d.
func withTimeout(ctx context.Context, d time.Duration) (context.Context, context.CancelFunc, error) {
	if d < 0 {
		return nil, nil, usageErrorf("--timeout %s: want a positive duration such as 10m, or 0 for none", d)
	}
	if d == 0 {
		ctx, cancel := context.WithCancel(ctx)
		return ctx, cancel, nil
	}
	ctx, cancel := context.WithTimeout(ctx, d)
	return ctx, cancel, nil
}

// timedOut turns err into an exit-3 error when ctx's --timeout of d expired
// (and not the parent's context: an interrupt is not a timeout). next says
// where the operation can be followed.
func timedOut(ctx context.Context, d time.Duration, err error, next string) error {
	if err == nil || d <= 0 || !errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return err
	}
	return &exitError{code: exitTimeout, err: bluegreen.Errorf(bluegreen.EUNAVAILABLE,
		"timed out after %s; %s", shortDuration(d), next)}
}

// shortDuration prints 5m0s as 5m and 1h0m0s as 1h.
func shortDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

// deployTimeoutHint says where a deploy that timed out can be followed: its
// deployment id when the status knows it.
func deployTimeoutHint(ctx context.Context, c *api.Client, req bluegreen.DeployRequest) string {
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if st, err := c.Status(sctx); err == nil {
		color := req.Color
		if req.Sync {
			color = st.State.Inactive()
		}
		if d := st.State.Colors[color].Deployment; d != nil && d.Status == bluegreen.DeploymentRunning {
			return fmt.Sprintf("deployment %s into %s may still be running on the server: follow it with bluegreen deployments show %s --follow",
				d.ID, color, d.ID)
		}
	}
	return "the operation may still be running on the server: see bluegreen status / deployments show ID"
}
