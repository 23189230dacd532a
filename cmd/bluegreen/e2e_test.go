package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bluegreen/bluegreen"
)

// TestSwitchRollbackHistory is the README's promise: the color path follows
// switch and rollback, and history records both with actor and time.
func TestSwitchRollbackHistory(t *testing.T) {
	blue, _ := startApp(t, "blue")
	green, _ := startApp(t, "green")
	s := startServe(t, writeConfig(t, t.TempDir(), blue, green, ""))

	colorURL := "http://" + s.public + "/deployment/color/"
	code, body, h := get(t, colorURL)
	if code != 200 || body != `{"color":"blue"}` || h.Get("Content-Type") != "application/json" {
		t.Fatalf("color path: %d %q %q, want 200 {\"color\":\"blue\"} application/json", code, body, h.Get("Content-Type"))
	}
	if _, body, h := get(t, "http://"+s.public+"/"); !strings.Contains(body, `"color":"blue"`) || h.Get("X-Bluegreen-Color") != "blue" {
		t.Fatalf("public / before switch: %q color header %q", body, h.Get("X-Bluegreen-Color"))
	}
	if _, body, _ := get(t, "http://"+s.preview+"/"); !strings.Contains(body, `"color":"green"`) {
		t.Fatalf("preview / before switch: %q, want green's app", body)
	}

	out := s.mustCLI(t, "switch", "green", "--reason", "release 42")
	if !strings.Contains(out, "switched blue → green") {
		t.Fatalf("switch output: %q", out)
	}
	if _, body, _ := get(t, colorURL); body != `{"color":"green"}` {
		t.Fatalf("color after switch: %q", body)
	}
	if out := s.mustCLI(t, "color"); out != "green\n" {
		t.Fatalf("bluegreen color: %q", out)
	}
	if _, body, _ := get(t, "http://"+s.public+"/"); !strings.Contains(body, `"color":"green"`) {
		t.Fatalf("public / after switch: %q", body)
	}

	out = s.mustCLI(t, "rollback")
	if !strings.Contains(out, "rolled back green → blue") {
		t.Fatalf("rollback output: %q", out)
	}
	if _, body, _ := get(t, colorURL); body != `{"color":"blue"}` {
		t.Fatalf("color after rollback: %q", body)
	}

	evs := decodeJSON[[]bluegreen.Event](t, s.mustCLI(t, "history", "--json"))
	var sawSwitch, sawRollback bool
	for _, e := range evs {
		if e.Time.IsZero() || time.Since(e.Time) > time.Minute {
			t.Errorf("event %d has time %v", e.ID, e.Time)
		}
		switch {
		case e.Action == bluegreen.ActionSwitch && e.Color == bluegreen.Green && e.Outcome == bluegreen.OutcomeOK:
			sawSwitch = true
			if e.Actor != "e2e-tester" || e.Details["reason"] != "release 42" {
				t.Errorf("switch event actor %q details %v", e.Actor, e.Details)
			}
		case e.Action == bluegreen.ActionRollback && e.Color == bluegreen.Blue:
			sawRollback = true
			if e.Actor != "e2e-tester" {
				t.Errorf("rollback event actor %q", e.Actor)
			}
		}
	}
	if !sawSwitch || !sawRollback {
		t.Fatalf("history lacks the switch or the rollback: %+v", evs)
	}
	text := s.mustCLI(t, "history")
	for _, want := range []string{"ACTOR", "e2e-tester", "switch", "rollback"} {
		if !strings.Contains(text, want) {
			t.Errorf("history text lacks %q:\n%s", want, text)
		}
	}

	st := decodeJSON[bluegreen.Status](t, s.mustCLI(t, "status", "--output", "json"))
	if st.State.Live != bluegreen.Blue || st.State.Previous != bluegreen.Green ||
		st.State.Colors[bluegreen.Green].Upstreams[0] != green || st.State.Colors[bluegreen.Blue].Branch != "production" {
		t.Fatalf("status: %+v", st.State)
	}
	if out := s.mustCLI(t, "status"); !strings.Contains(out, "live: blue") || !strings.Contains(out, blue) {
		t.Fatalf("status text: %q", out)
	}
}

// TestKill9AfterSwitch: a switch that was reported done survives kill -9.
func TestKill9AfterSwitch(t *testing.T) {
	blue, _ := startApp(t, "blue")
	green, _ := startApp(t, "green")
	cfg := writeConfig(t, t.TempDir(), blue, green, "")
	s := startServe(t, cfg)
	s.mustCLI(t, "switch", "green")
	before := decodeJSON[[]bluegreen.Event](t, s.mustCLI(t, "history", "--json", "--limit", "1000"))
	s.kill9(t)

	s2 := startServe(t, cfg)
	if s2.token != s.token {
		t.Fatal("the API token changed across a restart")
	}
	if _, body, _ := get(t, "http://"+s2.public+"/deployment/color/"); body != `{"color":"green"}` {
		t.Fatalf("color after kill -9 and restart: %q, want green", body)
	}
	if _, body, _ := get(t, "http://"+s2.public+"/"); !strings.Contains(body, `"color":"green"`) {
		t.Fatalf("public / after restart: %q, want green's app", body)
	}
	after := decodeJSON[[]bluegreen.Event](t, s2.mustCLI(t, "history", "--json", "--limit", "1000"))
	byID := map[int64]bluegreen.Event{}
	for _, e := range after {
		byID[e.ID] = e
	}
	for _, e := range before {
		got, ok := byID[e.ID]
		if !ok || got.Action != e.Action || got.Message != e.Message {
			t.Fatalf("event %d (%s %q) lost or changed after kill -9: %+v", e.ID, e.Action, e.Message, got)
		}
	}
}

// TestAPIAuth: no token or a wrong one gets 401 and changes nothing.
func TestAPIAuth(t *testing.T) {
	blue, _ := startApp(t, "blue")
	green, _ := startApp(t, "green")
	s := startServe(t, writeConfig(t, t.TempDir(), blue, green, ""))

	fi, err := os.Stat(filepath.Join(s.dir, "state", "api-token"))
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Fatalf("token file mode %v, want 0600", fi.Mode().Perm())
	}
	for _, hdr := range [][]string{nil, {"Authorization", "Bearer wrong"}, {"Authorization", "Bearer " + s.token + "x"}, {"Authorization", s.token}} {
		if code, _, _ := get(t, "http://"+s.apiAd+"/v1/status", hdr...); code != 401 {
			t.Errorf("status with %v: %d, want 401", hdr, code)
		}
	}
	// The history apart from health verdicts, which the checks record at
	// their own pace (the first rounds may end during this test).
	historyNotHealth := func() string {
		t.Helper()
		var keep []bluegreen.Event
		for _, ev := range decodeJSON[[]bluegreen.Event](t, s.mustCLI(t, "history", "--json", "--limit", "1000")) {
			if ev.Action != bluegreen.ActionHealth {
				keep = append(keep, ev)
			}
		}
		return describeEvents(keep)
	}
	histBefore := historyNotHealth()
	for _, tok := range []string{"", "wrong"} {
		out, errOut, code := runCLI(t, "--server", s.apiAd, "--token", tok, "--config", "/nonexistent.yaml", "switch", "green")
		if code != 1 && !(tok == "" && code == 2) {
			t.Errorf("switch with token %q: exit %d, stdout %q stderr %q", tok, code, out, errOut)
		}
		if tok == "wrong" && !strings.Contains(errOut, "token") {
			t.Errorf("switch with a wrong token says %q, want it to name the token", errOut)
		}
	}
	if _, body, _ := get(t, "http://"+s.public+"/deployment/color/"); body != `{"color":"blue"}` {
		t.Fatalf("color changed by an unauthorized call: %q", body)
	}
	if after := historyNotHealth(); after != histBefore {
		t.Fatalf("history changed by unauthorized calls:\nbefore %s\nafter %s", histBefore, after)
	}
	// Open routes.
	if code, body, _ := get(t, "http://"+s.apiAd+"/livez"); code != 200 || body != "ok\n" {
		t.Fatalf("livez: %d %q", code, body)
	}
	if code, body, _ := get(t, "http://"+s.apiAd+"/deployment/color/"); code != 200 || body != `{"color":"blue"}` {
		t.Fatalf("color on the API listener: %d %q", code, body)
	}

	// The CLI pointed at the router's listeners, which pass the call on
	// to an app, says so (a usage error) and changes nothing.
	for _, addr := range []string{s.public, s.preview} {
		out, errOut, code := runCLI(t, "--server", addr, "--token", s.token, "switch", "green")
		if code != 2 || !strings.Contains(errOut, "is not a bluegreen API") {
			t.Errorf("switch through %s: exit %d, stdout %q, stderr %q; want 2 and 'is not a bluegreen API'", addr, code, out, errOut)
		}
	}
	if _, body, _ := get(t, "http://"+s.public+"/deployment/color/"); body != `{"color":"blue"}` {
		t.Fatalf("color after switches sent to the router's listeners: %q", body)
	}
	// A --config that does not exist is named as such.
	if _, errOut, code := runCLI(t, "--config", "/nonexistent.yaml", "status"); code != 2 || !strings.Contains(errOut, "/nonexistent.yaml does not exist") {
		t.Errorf("status with a missing --config: exit %d, stderr %q", code, errOut)
	}
	// sample-app refuses to run without a color, or with a --listen that
	// is not host:port, as usage errors, before listening.
	for _, args := range [][]string{{"sample-app", "--listen", "127.0.0.1:0"},
		{"sample-app", "--color", "blue", "--listen", "nonsense"}} {
		if _, errOut, code := runCLI(t, args...); code != 2 || !strings.Contains(errOut, "sample-app") {
			t.Errorf("%v: exit %d, stderr %q; want 2 naming what is wrong", args, code, errOut)
		}
	}
	// color needs neither a token nor a config file.
	if out, errOut, code := runCLI(t, "--server", s.apiAd, "--config", "/nonexistent.yaml", "color"); code != 0 || out != "blue\n" {
		t.Errorf("color without a token or config: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	// Usage errors come out as JSON when JSON was asked for, even where
	// parsing stopped before reading the flag, with the code "invalid".
	for _, args := range [][]string{{"history", "--limit", "0", "-o", "json"}, {"history", "--limit", "abc", "--json"}, {"switch", "-o", "json"},
		{"history", "--outcome", "bogus", "--json"}, {"history", "--since", "2h", "--until", "3h", "-o", "json"}} {
		out, _, code := s.cli(t, args...)
		var v struct {
			Error struct{ Code, Message string }
		}
		if err := json.Unmarshal([]byte(out), &v); err != nil || code != 2 || v.Error.Code != "invalid" || v.Error.Message == "" {
			t.Errorf("%v: exit %d, stdout %q (%v); want 2 and a JSON error with code invalid", args, code, out, err)
		}
	}
}

// TestRefuseUnhealthy: switch refuses a color whose health check fails and
// says why; --force goes and history records it.
func TestRefuseUnhealthy(t *testing.T) {
	blue, _ := startApp(t, "blue")
	green, greenApp := startApp(t, "green")
	s := startServe(t, writeConfig(t, t.TempDir(), blue, green, ""))
	greenApp.kill9(t)

	out, errOut, code := s.cli(t, "switch", "green")
	if code != 1 || !strings.Contains(errOut, "green is unhealthy") || !strings.Contains(errOut, green) {
		t.Fatalf("switch to a dead green: exit %d, stdout %q, stderr %q; want exit 1 naming the reason", code, out, errOut)
	}
	if _, body, _ := get(t, "http://"+s.public+"/deployment/color/"); body != `{"color":"blue"}` {
		t.Fatalf("refused switch changed the color: %q", body)
	}
	out = s.mustCLI(t, "switch", "green", "--force", "--reason", "testing force")
	if !strings.Contains(out, "(forced)") {
		t.Fatalf("forced switch output: %q", out)
	}
	if code, body, _ := get(t, "http://"+s.public+"/"); code != 502 || !strings.Contains(body, "green") {
		t.Fatalf("public / with a dead green: %d %q, want 502 naming green", code, body)
	}
	evs := decodeJSON[[]bluegreen.Event](t, s.mustCLI(t, "history", "--json", "--action", "switch"))
	if len(evs) < 2 || evs[0].Details["forced"] != true || evs[0].Actor != "e2e-tester" || evs[1].Outcome != bluegreen.OutcomeRefused {
		t.Fatalf("history of switches: %+v", evs)
	}
	// Rollback to a healthy blue works without force.
	s.mustCLI(t, "rollback")
}

// TestBadConfigExits2 runs serve on each malformed config of the config
// package's golden tests: exit 2, a file:line:col message, nothing started.
func TestBadConfigExits2(t *testing.T) {
	files, err := filepath.Glob("../../config/testdata/bad/*.yaml")
	if err != nil || len(files) < 10 {
		t.Fatalf("want at least 10 bad configs, found %d (%v)", len(files), err)
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			dir := t.TempDir()
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			path := filepath.Join(dir, "bluegreen.yaml")
			if err := os.WriteFile(path, b, 0o644); err != nil {
				t.Fatal(err)
			}
			out, errOut, code := runCLI(t, "serve", "--config", path)
			if code != 2 {
				t.Fatalf("exit %d, want 2; stdout %q stderr %q", code, out, errOut)
			}
			if !strings.Contains(errOut, path+":") {
				t.Fatalf("stderr %q does not name %s:line:col", errOut, path)
			}
			if entries, _ := os.ReadDir(dir); len(entries) != 1 {
				t.Fatalf("a bad config created files: %v", entries)
			}
		})
	}
}
