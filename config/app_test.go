package config

import (
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/bluegreen/bluegreen"
)

// appConfig is a valid config with an app section; tests append to app:
// through the %s placeholder.
const appConfig = `listen: 127.0.0.1:8080
preview: 127.0.0.1:8081
api: 127.0.0.1:8082
app:
  repo: /srv/app.git
  run: ./serve
%sblue: {branch: blue, port: 9001}
green: {branch: green, port: 9002}
`

// appYAML returns appConfig with repo (as YAML) and extra keys for app:.
func appYAML(repo, extra string) []byte {
	return []byte(strings.Replace(strings.Replace(appConfig, "%s", extra, 1), "/srv/app.git", repo, 1))
}

func parseApp(t *testing.T, extra string) *Config {
	t.Helper()
	c, err := Parse("app.yaml", appYAML("/srv/app.git", extra))
	if err != nil {
		t.Fatalf("Parse with %q:\n%v", extra, err)
	}
	return c
}

func TestAppDefaults(t *testing.T) {
	c := mustLoad(t, "testdata/good/app_minimal.yaml")
	want := DefaultApp()
	want.Repo, want.RepoIsLocal = abs(t, "testdata/repos/app.git"), true
	want.Run = "python3 -m http.server $PORT"
	if !reflect.DeepEqual(*c.App, want) {
		t.Errorf("App = %+v\nwant  %+v", *c.App, want)
	}
	// The documented defaults, spelled out once so a change is deliberate.
	d := DefaultApp()
	if d.Driver != DriverProcess || d.StartTimeout != 60*time.Second || d.StopGrace != 10*time.Second ||
		d.KeepReleases != 3 || d.Command != nil || d.Build != nil || d.Env != nil || d.Hooks != (Hooks{}) {
		t.Errorf("app defaults = %+v", d)
	}
	hc := DefaultHealthCheck()
	blue := Color{Branch: "production", Ports: []int{9001}, Upstreams: []string{"127.0.0.1:9001"}, Health: hc}
	green := Color{Branch: "green", Ports: []int{9002}, Upstreams: []string{"127.0.0.1:9002"}, Health: hc}
	if !reflect.DeepEqual(*c.Colors[bluegreen.Blue], blue) || !reflect.DeepEqual(*c.Colors[bluegreen.Green], green) {
		t.Errorf("colors = %+v, %+v\nwant     %+v, %+v", *c.Colors[bluegreen.Blue], *c.Colors[bluegreen.Green], blue, green)
	}
}

func TestAppFull(t *testing.T) {
	c := mustLoad(t, "testdata/good/app_full.yaml")
	want := App{
		Repo:   "ssh://git@example.com/team/app.git",
		Driver: DriverCommand,
		Run:    "unused by the command driver",
		Build: []string{"python3 manage.py migrate --noinput",
			"python3 manage.py collectstatic \\\n  --noinput\n"},
		// File order, not sorted; numbers and booleans as written.
		Env: []EnvVar{{"ZED", "last letter, first key"}, {"DJANGO_SETTINGS_MODULE", "app.settings"},
			{"WORKERS", "4"}, {"DEBUG", "true"}, {"EMPTY", ""}, {"LANG", "C.UTF-8"}},
		StartTimeout: 2 * time.Minute,
		StopGrace:    500 * time.Millisecond,
		KeepReleases: 10,
		Command:      &CommandDriver{Deploy: "./deploy.sh", Stop: "./stop.sh", Status: "./status.sh"},
		Hooks: Hooks{PreDeploy: "./hooks/pre-deploy", PostDeploy: "./hooks/post-deploy",
			PreSwitch: "./hooks/pre-switch", PostSwitch: "./hooks/post-switch"},
		VerifyOnDeploy: true,
		Promotion:      PromotionManual,
		AgentTimeout:   15 * time.Second,
	}
	if !reflect.DeepEqual(*c.App, want) {
		t.Errorf("App = %#v\nwant  %#v", *c.App, want)
	}
	blue := c.Colors[bluegreen.Blue]
	if !reflect.DeepEqual(blue.Ports, []int{9001, 9011}) ||
		!reflect.DeepEqual(blue.Upstreams, []string{"127.0.0.1:9001", "127.0.0.1:9011"}) {
		t.Errorf("blue ports %v upstreams %q, want one upstream per port", blue.Ports, blue.Upstreams)
	}
	// A command driver may deploy elsewhere: explicit upstreams, no port.
	green := c.Colors[bluegreen.Green]
	if green.Ports != nil || !reflect.DeepEqual(green.Upstreams, []string{"10.0.0.5:8000"}) {
		t.Errorf("green ports %v upstreams %q", green.Ports, green.Upstreams)
	}
}

func TestExplicitUpstreamsWinOverPorts(t *testing.T) {
	c, err := Parse("a.yaml", []byte(strings.Replace(string(appYAML("/srv/app.git", "")), "port: 9001}",
		"port: 9001, upstreams: [app:80]}", 1)))
	if err != nil {
		t.Fatal(err)
	}
	if b := c.Colors[bluegreen.Blue]; !reflect.DeepEqual(b.Upstreams, []string{"app:80"}) || !reflect.DeepEqual(b.Ports, []int{9001}) {
		t.Errorf("blue = %+v", b)
	}
}

func TestAppRepoURLsAreKept(t *testing.T) {
	for _, repo := range []string{
		"https://github.com/team/app.git", "https://user:token@example.com/app", "ssh://git@example.com:2222/app.git",
		"git://example.com/app.git", "file:///srv/app.git", "git@github.com:team/app.git", "example.com:app.git",
	} {
		c, err := Parse("u.yaml", appYAML("'"+repo+"'", ""))
		if err != nil {
			t.Errorf("repo %q: %v", repo, err)
			continue
		}
		if c.App.Repo != repo || c.App.RepoIsLocal {
			t.Errorf("repo %q: got %q, local %v; want it kept as a URL", repo, c.App.Repo, c.App.RepoIsLocal)
		}
	}
}

func TestAppRepoLocalPaths(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "conf", "bluegreen.yaml")
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	for repo, want := range map[string]string{
		"../app.git":     filepath.Join(dir, "app.git"),
		"./app":          filepath.Join(dir, "conf", "app"),
		"app.git":        filepath.Join(dir, "conf", "app.git"),
		"/srv/a/../b":    "/srv/b",
		"repos/x:y.git":  filepath.Join(dir, "conf", "repos", "x:y.git"), // slash before the colon: a path, as git says
		"with space.git": filepath.Join(dir, "conf", "with space.git"),
	} {
		if err := os.WriteFile(path, appYAML("'"+repo+"'", ""), 0o644); err != nil {
			t.Fatal(err)
		}
		c := mustLoad(t, path)
		if c.App.Repo != want || !c.App.RepoIsLocal {
			t.Errorf("repo %q: got %q (local %v), want %q", repo, c.App.Repo, c.App.RepoIsLocal, want)
		}
	}
	// Without a file name a relative path is taken from the working directory.
	c, err := Parse("", appYAML("app.git", ""))
	if err != nil {
		t.Fatal(err)
	}
	if want := abs(t, "app.git"); c.App.Repo != want {
		t.Errorf("repo = %q, want %q", c.App.Repo, want)
	}
}

func TestAppRepoRejected(t *testing.T) {
	for repo, problem := range map[string]string{
		"-uhelp":                       `must not start with "-"`,
		"ext::sh -c touch% /tmp/x":     "<transport>::<address>",
		"http://example.com/app.git":   "unsupported scheme http",
		"ftp://example.com/app.git":    "unsupported scheme ftp",
		"https:///app.git":             "needs a host",
		"ssh://-oProxyCommand=x/app":   "needs a host",
		"file://srv/app.git":           "needs no host",
		"-oProxyCommand=x@host:app":    `must not start with "-"`,
		"git@-host:app.git":            "is not user@host:path",
		"host:-app.git":                "is not user@host:path",
		"   ":                          "must not be empty",
		"\"a\\u0007b\"":                "control characters",
		"https://exa mple.com/app.git": "not a valid URL",
	} {
		quoted := "'" + repo + "'"
		if strings.HasPrefix(repo, `"`) {
			quoted = repo
		}
		_, err := Parse("r.yaml", appYAML(quoted, ""))
		if err == nil || !strings.Contains(err.Error(), "app.repo: ") || !strings.Contains(err.Error(), problem) {
			t.Errorf("repo %s: error = %v, want one about app.repo saying %q", repo, err, problem)
		}
	}
}

func TestAppEmptyListsAndEnv(t *testing.T) {
	for _, extra := range []string{"  build: []\n  env: {}\n", "  build:\n  env:\n", "  build: ~\n  env: ~\n"} {
		c := parseApp(t, extra)
		if c.App.Build != nil || c.App.Env != nil {
			t.Errorf("%q: build %q env %v, want none", extra, c.App.Build, c.App.Env)
		}
	}
	c := parseApp(t, "  env: {A: 1.50, B: 'yes', C: false, D: 007, lower_case: x, _U: \"\"}\n")
	want := []EnvVar{{"A", "1.50"}, {"B", "yes"}, {"C", "false"}, {"D", "007"}, {"lower_case", "x"}, {"_U", ""}}
	if !reflect.DeepEqual(c.App.Env, want) {
		t.Errorf("env = %v, want %v (text as written)", c.App.Env, want)
	}
}

func TestReservedEnv(t *testing.T) {
	for name, want := range map[string]bool{"PORT": true, "BLUEGREEN_SHA": true, "BLUEGREEN_": true,
		"port": false, "PORTS": false, "BLUEGREEN": false, "MY_BLUEGREEN_X": false} {
		if got := ReservedEnv(name); got != want {
			t.Errorf("ReservedEnv(%q) = %v, want %v", name, got, want)
		}
	}
}

func TestExampleApp(t *testing.T) {
	c, err := Parse("/etc/bluegreen/bluegreen.yaml", []byte(ExampleApp()))
	if err != nil {
		t.Fatalf("ExampleApp does not parse:\n%v", err)
	}
	a := c.App
	if a == nil || a.Repo != "/etc/app.git" || !a.RepoIsLocal || a.Driver != DriverProcess ||
		!strings.Contains(a.Run, "$PORT") || len(a.Build) != 3 || a.KeepReleases != 5 ||
		a.StartTimeout != 90*time.Second || a.Hooks.PreSwitch == "" {
		t.Fatalf("ExampleApp app = %+v", a)
	}
	for col, port := range map[bluegreen.Color]int{bluegreen.Blue: 9001, bluegreen.Green: 9002} {
		cc := c.Colors[col]
		if !reflect.DeepEqual(cc.Ports, []int{port}) || len(cc.Upstreams) != 1 || cc.Upstreams[0] != "127.0.0.1:"+strconv.Itoa(port) {
			t.Errorf("%s = %+v, want port %d and its upstream", col, cc, port)
		}
	}
}

// TestExampleAppSectionUncommented checks that the commented-out app section
// of Example is valid once uncommented, so it cannot rot.
func TestExampleAppSectionUncommented(t *testing.T) {
	var out []string
	inApp := false
	for line := range strings.SplitSeq(Example(), "\n") {
		switch {
		case line == "# app:":
			inApp = true
		case inApp && !strings.HasPrefix(line, "#"):
			inApp = false
		}
		if inApp {
			line = strings.TrimPrefix(strings.TrimPrefix(line, "#"), " ")
		}
		if strings.HasPrefix(line, "  # port: ") {
			line = "  port: " + strings.TrimPrefix(line, "  # port: ")
		}
		out = append(out, line)
	}
	text := strings.Join(out, "\n")
	c, err := Parse("/srv/bluegreen.yaml", []byte(text))
	if err != nil {
		t.Fatalf("Example with the app section uncommented does not parse:\n%v\n%s", err, text)
	}
	if c.App == nil || c.App.Repo != "/srv/app.git" || len(c.App.Env) != 1 || c.App.Command != nil ||
		!reflect.DeepEqual(c.Colors[bluegreen.Green].Ports, []int{9002}) {
		t.Errorf("uncommented Example: app %+v, green %+v", c.App, c.Colors[bluegreen.Green])
	}
	d := DefaultApp()
	if c.App.StartTimeout != d.StartTimeout || c.App.StopGrace != d.StopGrace || c.App.KeepReleases != d.KeepReleases {
		t.Errorf("Example's app section does not show the defaults: %+v", c.App)
	}
}

func TestChecksPromotionAndWatch(t *testing.T) {
	c := mustLoad(t, "testdata/good/gates.yaml")
	home := Check{Name: "home", Timeout: 5 * time.Second, Retries: 2, HTTP: &HTTPCheck{
		Method: "POST", Path: "/api?x=1", Body: `{"q": 1}`, Status: 201, BodyContains: "ok",
		Headers:   []Header{{"Accept", "application/json"}, {"X-Num", "3"}},
		JSONField: "data.count", JSONEquals: "3",
	}}
	tests := Check{Name: "tests", Command: "python3 manage.py test", Timeout: 30 * time.Second}
	blueOnly := Check{Name: "blue-only", Timeout: 30 * time.Second, HTTP: &HTTPCheck{Method: "GET", Path: "/healthz", Status: 200}}
	if got, want := c.ChecksFor(bluegreen.Blue), []Check{home, tests, blueOnly}; !reflect.DeepEqual(got, want) {
		t.Errorf("blue's checks:\n got %#v\nwant %#v", got, want)
	}
	if got, want := c.ChecksFor(bluegreen.Green), []Check{home, tests}; !reflect.DeepEqual(got, want) {
		t.Errorf("green's checks:\n got %#v\nwant %#v", got, want)
	}
	if a := c.App; a.VerifyOnDeploy || a.Promotion != PromotionAuto || a.RequireApproval || a.Hooks.Notify != "./page.sh" {
		t.Errorf("app gates: verify_on_deploy=%v promotion=%q require_approval=%v notify=%q",
			a.VerifyOnDeploy, a.Promotion, a.RequireApproval, a.Hooks.Notify)
	}
	want := Watch{Enabled: true, Window: time.Minute, Interval: 2 * time.Second, MinRequests: 5, MaxErrorRatio: 0.1,
		MaxP99: 1500 * time.Millisecond, StopPreviousAfter: 10 * time.Minute,
		Prometheus: &PrometheusCheck{URL: "http://127.0.0.1:9090", Query: `sum(up{color="{{color}}"})`, Max: 0.5}}
	if !reflect.DeepEqual(c.Watch, want) {
		t.Errorf("watch:\n got %#v\nwant %#v", c.Watch, want)
	}

	// The defaults: verify on deploy, manual promotion, the watch on.
	d := mustLoad(t, "testdata/good/app_minimal.yaml")
	if !d.App.VerifyOnDeploy || d.App.Promotion != PromotionManual || d.App.RequireApproval || !reflect.DeepEqual(d.Watch, DefaultWatch()) {
		t.Errorf("defaults: verify_on_deploy=%v promotion=%q require_approval=%v watch=%+v",
			d.App.VerifyOnDeploy, d.App.Promotion, d.App.RequireApproval, d.Watch)
	}
}
