// Package ghactions writes what the CLI tells GitHub Actions: step outputs
// (the GITHUB_OUTPUT file) and a step summary (the GITHUB_STEP_SUMMARY
// file), from a Report each verb builds.
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
// That policy, and reading the status, are the CLI's; this package builds
// the report and writes the files. It prints nothing and logs nothing.
package ghactions

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/bluegreen/bluegreen"
)

// OutputNames lists every step output a verb may write (see the package
// documentation); the workflow tests check the shipped workflows against
// it. Callers must not modify it.
var OutputNames = []string{
	"outcome", "error", "color", "target", "deployment_id", "sha", "ref", "verified", "promoted",
	"from", "to", "switch_ms", "forced", "previous", "inactive", "preview_url",
}

// Outcomes written as the outcome output.
const (
	OutcomeOK      = "ok"      // the verb succeeded
	OutcomeFailed  = "failed"  // it failed for any reason not below
	OutcomeRefused = "refused" // a gate, the lock or the token's role said no
	OutcomeTimeout = "timeout" // --timeout expired
)

// Environment variables GitHub Actions sets in a step: the files this
// package appends to.
const (
	OutputEnv  = "GITHUB_OUTPUT"
	SummaryEnv = "GITHUB_STEP_SUMMARY"
)

// Enabled reports whether getenv (os.Getenv, or a test's) names a file for
// step outputs or a step summary: whether a verb has anything to write.
func Enabled(getenv func(string) string) bool {
	return getenv(OutputEnv) != "" || getenv(SummaryEnv) != ""
}

// Outcome classifies how a verb ended, for the outcome output: OutcomeOK
// for a nil err, OutcomeTimeout when timedOut (the CLI knows its --timeout),
// OutcomeRefused for the domain's refused, conflict and forbidden errors,
// else OutcomeFailed.
func Outcome(err error, timedOut bool) string {
	switch {
	case err == nil:
		return OutcomeOK
	case timedOut:
		return OutcomeTimeout
	}
	switch bluegreen.ErrorCode(err) {
	case bluegreen.EREFUSED, bluegreen.ECONFLICT, bluegreen.EFORBIDDEN:
		return OutcomeRefused
	}
	return OutcomeFailed
}

// Report is what one verb tells GitHub Actions. Build it with the verb's
// builder (DeployReport, VerifyReport, SwitchReport, StatusReport) or by
// hand, then Complete and Write it. Not safe for concurrent use.
type Report struct {
	Title   string      // the verb and its target, e.g. "deploy green"
	Outputs [][2]string // step outputs: name, value; in order
	Rows    [][2]string // summary table: label, value; in order
	Notes   []string    // summary lines after the outcome (e.g. failed checks), Markdown
	Result  string      // the outcome in a sentence, when the verb succeeded
}

// Set adds an output, and a summary row when label is not empty. An empty
// value is left out of both.
func (r *Report) Set(name, label, value string) {
	if value == "" {
		return
	}
	r.Outputs = append(r.Outputs, [2]string{name, value})
	if label != "" {
		r.Rows = append(r.Rows, [2]string{label, value})
	}
}

// Complete adds what every verb reports: the outcome first, the live color
// and the preview address from st (the status after the verb; nil when it
// could not be read), and the error's text (errText, for an outcome other
// than OutcomeOK) last.
func (r *Report) Complete(st *bluegreen.Status, outcome, errText string) {
	if st != nil {
		r.Outputs = append([][2]string{{"color", string(st.State.Live)}}, r.Outputs...)
		r.Rows = append([][2]string{{"live color", string(st.State.Live)}}, r.Rows...)
		r.Set("preview_url", "preview (QA)", st.PreviewURL)
	}
	r.Outputs = append([][2]string{{"outcome", outcome}}, r.Outputs...)
	if outcome != OutcomeOK {
		r.Outputs = append(r.Outputs, [2]string{"error", errText})
	}
}

// Write appends the report's outputs to the file named by getenv(OutputEnv)
// and its summary to the file named by getenv(SummaryEnv), each skipped
// when its variable is empty. It returns the first error, after trying
// both; the error names the file but never a value.
func (r *Report) Write(getenv func(string) string, outcome, errText string) error {
	err := WriteOutputs(getenv(OutputEnv), r.Outputs)
	if serr := AppendSummary(getenv(SummaryEnv), r.Markdown(outcome, errText)); err == nil {
		err = serr
	}
	return err
}

// WriteOutputs appends outputs to the GITHUB_OUTPUT file at path (no-op
// when path is empty), in the format GitHub documents: name=value, or for a
// value with a line break name<<DELIM, the value, DELIM, with a random
// delimiter that the value does not contain.
func WriteOutputs(path string, outputs [][2]string) error {
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
	return appendFile(OutputEnv, path, b.String())
}

// ParseOutputs reads a GITHUB_OUTPUT file's text as the runner does: the
// inverse of WriteOutputs (a later value of a name replaces an earlier
// one). The tests read what the CLI wrote with it; an error names the line
// that is neither form.
func ParseOutputs(text string) (map[string]string, error) {
	out := map[string]string{}
	lines := strings.Split(text, "\n")
	for i := 0; i < len(lines); i++ {
		line := lines[i]
		if line == "" {
			continue
		}
		eq, hd := strings.Index(line, "="), strings.Index(line, "<<")
		if eq >= 0 && (hd < 0 || eq < hd) {
			out[line[:eq]] = line[eq+1:]
			continue
		}
		if hd <= 0 {
			return nil, fmt.Errorf("GITHUB_OUTPUT: invalid line %q", line)
		}
		name, delim := line[:hd], line[hd+2:]
		var value []string
		for i++; ; i++ {
			if i >= len(lines) {
				return nil, fmt.Errorf("GITHUB_OUTPUT: no closing %q for %q", delim, name)
			}
			if lines[i] == delim {
				break
			}
			value = append(value, lines[i])
		}
		out[name] = strings.Join(value, "\n")
	}
	return out, nil
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

// AppendSummary appends md to the GITHUB_STEP_SUMMARY file at path (no-op
// when path is empty).
func AppendSummary(path, md string) error {
	if path == "" {
		return nil
	}
	return appendFile(SummaryEnv, path, md)
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

// Markdown renders the step summary: heading, table, outcome, notes.
// errText is the error's text for an outcome other than OutcomeOK; it and
// every table cell are made inert (no HTML, one line).
func (r *Report) Markdown(outcome, errText string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "### bluegreen %s: %s\n\n", r.Title, outcome)
	if len(r.Rows) > 0 {
		b.WriteString("| | |\n| --- | --- |\n")
		for _, row := range r.Rows {
			fmt.Fprintf(&b, "| %s | %s |\n", mdCell(row[0]), mdCell(row[1]))
		}
		b.WriteString("\n")
	}
	if outcome != OutcomeOK {
		fmt.Fprintf(&b, "**%s**: %s\n", outcome, mdText(errText))
	} else if r.Result != "" {
		fmt.Fprintf(&b, "%s\n", mdText(r.Result))
	}
	for _, n := range r.Notes {
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

// short is a commit's first 12 characters, as the CLI prints it.
func short(sha string) string {
	if len(sha) > 12 {
		return sha[:12]
	}
	return sha
}

func boolText(b bool) string { return strconv.FormatBool(b) }

// RunURL links to the GitHub Actions run the process runs in, as getenv
// (os.Getenv, or a test's) tells it; "" outside one.
func RunURL(getenv func(string) string) string {
	srv, repo, id := getenv("GITHUB_SERVER_URL"), getenv("GITHUB_REPOSITORY"), getenv("GITHUB_RUN_ID")
	if getenv("GITHUB_ACTIONS") != "true" || srv == "" || repo == "" || id == "" {
		return ""
	}
	return strings.TrimRight(srv, "/") + "/" + repo + "/actions/runs/" + id
}

// Actor is who the history records for a CLI call inside a GitHub Actions
// run ("github:USER run ID"), as getenv tells it; "" outside one.
func Actor(getenv func(string) string) string {
	if getenv("GITHUB_ACTIONS") != "true" || getenv("GITHUB_ACTOR") == "" {
		return ""
	}
	a := "github:" + getenv("GITHUB_ACTOR")
	if id := getenv("GITHUB_RUN_ID"); id != "" {
		a += " run " + id
	}
	return a
}
