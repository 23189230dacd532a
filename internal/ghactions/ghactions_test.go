package ghactions

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bluegreen/bluegreen"
)

// TestOutputFormat: the GITHUB_OUTPUT file reads back, through the runner's
// format, as the values written, multi-line ones included; the step
// summary keeps server text inert.
func TestOutputFormat(t *testing.T) {
	path := filepath.Join(t.TempDir(), "out")
	in := [][2]string{{"color", "green"}, {"error", "a=b<<c"}, {"error2", "line one\nline two\n\nEOF"}, {"sha", "abc"}}
	if err := WriteOutputs(path, in[:2]); err != nil {
		t.Fatal(err)
	}
	if err := WriteOutputs(path, in[2:]); err != nil { // appends
		t.Fatal(err)
	}
	data, _ := os.ReadFile(path)
	got, err := ParseOutputs(string(data))
	if err != nil {
		t.Fatalf("%v in:\n%s", err, data)
	}
	for _, kv := range in {
		if got[kv[0]] != kv[1] {
			t.Errorf("%s read back as %q, want %q; file:\n%s", kv[0], got[kv[0]], kv[1], data)
		}
	}
	if len(got) != len(in) {
		t.Errorf("read back %v, want %v", got, in)
	}
	if !strings.Contains(string(data), "error2<<ghadelimiter_") {
		t.Errorf("a multi-line value is not in the heredoc form:\n%s", data)
	}

	r := &Report{Title: "verify green"}
	r.Set("target", "verified", "green")
	r.Rows = append(r.Rows, [2]string{"note", "a | b <script>x</script>\nsecond line"})
	md := r.Markdown(OutcomeFailed, "checks\nfailed <b>")
	for _, p := range []string{"### bluegreen verify green: failed", "| verified | green |",
		`| note | a \| b &lt;script&gt;x&lt;/script&gt; second line |`, "**failed**: checks failed &lt;b&gt;"} {
		if !strings.Contains(md, p) {
			t.Errorf("the summary lacks %q:\n%s", p, md)
		}
	}
	if strings.Contains(md, "<script>") || strings.Count(md, "\n| ") != 4 {
		t.Errorf("summary not inert or rows broken:\n%s", md)
	}
}

func TestParseOutputsRejectsABrokenFile(t *testing.T) {
	for _, text := range []string{"no separator\n", "name<<EOF\nvalue without its end\n"} {
		if _, err := ParseOutputs(text); err == nil {
			t.Errorf("ParseOutputs(%q) accepted it", text)
		}
	}
}

// TestCompleteAndWrite: every verb's outputs start with the outcome and the
// live color and end with the error; both files get written.
func TestCompleteAndWrite(t *testing.T) {
	dir := t.TempDir()
	env := map[string]string{OutputEnv: filepath.Join(dir, "out"), SummaryEnv: filepath.Join(dir, "summary")}
	getenv := func(k string) string { return env[k] }
	if !Enabled(getenv) || Enabled(func(string) string { return "" }) {
		t.Fatal("Enabled does not follow the environment")
	}
	st := &bluegreen.Status{PreviewURL: "http://preview.example"}
	st.State.Live = bluegreen.Green
	r := VerifyReport(bluegreen.Blue, bluegreen.Verification{}, false)
	r.Complete(st, OutcomeRefused, "blue is not healthy")
	if err := r.Write(getenv, OutcomeRefused, "blue is not healthy"); err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(env[OutputEnv])
	want := "outcome=refused\ncolor=green\ntarget=blue\npreview_url=http://preview.example\nerror=blue is not healthy\n"
	if string(data) != want {
		t.Errorf("GITHUB_OUTPUT:\n%s\nwant:\n%s", data, want)
	}
	md, _ := os.ReadFile(env[SummaryEnv])
	if !strings.HasPrefix(string(md), "### bluegreen verify blue: refused\n") || !strings.Contains(string(md), "**refused**: blue is not healthy") {
		t.Errorf("GITHUB_STEP_SUMMARY:\n%s", md)
	}
}

func TestOutcome(t *testing.T) {
	for _, c := range []struct {
		err      error
		timedOut bool
		want     string
	}{
		{nil, false, OutcomeOK},
		{bluegreen.Errorf(bluegreen.EREFUSED, "unhealthy"), false, OutcomeRefused},
		{bluegreen.Errorf(bluegreen.ECONFLICT, "locked"), false, OutcomeRefused},
		{bluegreen.Errorf(bluegreen.EFORBIDDEN, "viewer"), false, OutcomeRefused},
		{errors.New("timed out"), true, OutcomeTimeout},
		{bluegreen.Errorf(bluegreen.EUNAVAILABLE, "down"), false, OutcomeFailed},
	} {
		if got := Outcome(c.err, c.timedOut); got != c.want {
			t.Errorf("Outcome(%v, %v) = %s, want %s", c.err, c.timedOut, got, c.want)
		}
	}
}

// TestRunURLAndActor: inside a GitHub Actions run the CLI links to the run
// and records "github:USER run ID"; outside one, both are empty.
func TestRunURLAndActor(t *testing.T) {
	env := map[string]string{"GITHUB_ACTIONS": "true", "GITHUB_SERVER_URL": "https://github.com/",
		"GITHUB_REPOSITORY": "acme/shop", "GITHUB_RUN_ID": "42", "GITHUB_ACTOR": "ana"}
	getenv := func(k string) string { return env[k] }
	if got, want := RunURL(getenv), "https://github.com/acme/shop/actions/runs/42"; got != want {
		t.Errorf("RunURL = %q, want %q", got, want)
	}
	if got, want := Actor(getenv), "github:ana run 42"; got != want {
		t.Errorf("Actor = %q, want %q", got, want)
	}
	env["GITHUB_ACTIONS"] = ""
	if got := RunURL(getenv); got != "" {
		t.Errorf("outside a run: RunURL = %q, want \"\"", got)
	}
	if got := Actor(getenv); got != "" {
		t.Errorf("outside a run: Actor = %q, want \"\"", got)
	}
}
