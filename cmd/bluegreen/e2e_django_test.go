package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bluegreen/bluegreen"
	"github.com/bluegreen/bluegreen/internal/testenv"
	"github.com/bluegreen/bluegreen/internal/textout"
	"github.com/bluegreen/bluegreen/loadgen"
)

// djangoExample is the example the test deploys, relative to this package.
var djangoExample = filepath.Join("..", "..", "examples", "django")

// TestDjango is the seed's whole workflow for the Django example, through
// the CLI only, with a load client on the public listener and a poller of
// its /deployment/color/ running throughout:
//
//  1. deploy blue (the first deploy goes into the live color); deploy green,
//     whose migration adds a nullable column to the database blue serves
//     from; verify green; switch; the watch passes; sync blue to green's
//     commit.
//  2. a bad release into the inactive color, blue (branch production): its
//     home page fails one request in four, which its checks and tests never
//     see; switch; the watch rolls back to green by itself.
//  3. the rename: blue's branch becomes `blue` (one config line, reloaded
//     by serve on SIGHUP with the load running); the fix deploys from it.
//
// No request fails but the bad release's own 500s, and the color endpoint
// always answers the committed color.
func TestDjango(t *testing.T) {
	requireDjango(t)
	began := time.Now()
	repo := newDjangoRepo(t)
	e := startDjango(t, djangoConfig(t, t.TempDir(), repo.dir, filepath.Join(t.TempDir(), "shop.sqlite3")))

	// 1. Deploy green, verify, switch, watch, sync.
	out := e.op(t, "blue", "blue", "deploy", "blue")
	wantAll(t, "the first deploy of blue", out, "live but runs nothing deployed by bluegreen yet",
		"Applying orders.0001_initial... OK", "static file copied", "blue passed its 4 checks")
	e.startLoad(t)

	greenSHA := repo.change(t, "green", "shop 1.1.0: orders get a note", func(dir string) {
		replaceIn(t, filepath.Join(dir, "orders", "models.py"), noteAfter, noteAfter+noteField)
		mustWrite(t, filepath.Join(dir, "orders", "migrations", "0002_order_note.py"), noteMigration)
		mustWrite(t, filepath.Join(dir, "VERSION"), "1.1.0\n")
	})
	out = e.op(t, "blue", "blue", "deploy", "green")
	wantAll(t, "deploy green", out, "checking the live color blue before the build steps",
		"Applying orders.0002_order_note... OK", "blue still passes its 4 checks", "green passed its 4 checks")

	// Both colors share one database: an order placed on blue (1.0.0,
	// which knows nothing of the new column) is counted by green.
	code, body, hdr := postJSON(t, "http://"+e.s.public+"/orders/", `{"customer": "ada", "total": "12.50"}`)
	if code != http.StatusCreated || hdr.Get("X-Bluegreen-Color") != "blue" {
		t.Fatalf("placing an order on blue after green's migration: %d %s (color %q)", code, body, hdr.Get("X-Bluegreen-Color"))
	}
	e.wantHome(t, e.s.preview, "green", "1.1.0", 1)

	out = e.op(t, "blue", "blue", "verify", "green")
	wantAll(t, "verify green", out, "green ("+textout.Short(greenSHA))
	for _, check := range []string{"health", "healthz", "home", "tests"} {
		if !tableRow(out, check, "passed") {
			t.Fatalf("verify green: no row %q that passed in the table:\n%s", check, out)
		}
	}
	switched := time.Now()
	wantAll(t, "switch green", e.op(t, "blue", "green", "switch", "green"), "watching green until")
	e.waitEvent(t, "green passing its watch", 30*time.Second, func(ev bluegreen.Event) bool {
		return ev.Action == bluegreen.ActionWatch && ev.Outcome == bluegreen.OutcomeOK && ev.Color == bluegreen.Green &&
			strings.Contains(ev.Message, "passed the watch") && ev.Time.After(switched)
	})
	e.op(t, "green", "green", "sync")
	st := status(t, e.s)
	if b := st.State.Colors[bluegreen.Blue].Release; b == nil || b.SHA != greenSHA {
		t.Fatalf("after sync blue runs %+v, want green's commit %s", b, greenSHA)
	}
	e.wantHome(t, e.s.preview, "blue", "1.1.0", 1)
	e.wantNoFailures(t, "step 1")
	t.Logf("step 1 (deploy, verify, switch, watch, sync) done after %s", time.Since(began).Round(time.Millisecond))

	// 2. The next release goes into the inactive color, blue, from
	// production (which first takes green's validated work). Its new order
	// summary is rolled out to one request in four and queries a field no
	// migration created: its tests and the one-request checks never reach
	// it, real traffic does.
	git(t, repo.dir, "checkout", "-q", "production")
	git(t, repo.dir, "merge", "-q", "--ff-only", "green")
	badSHA := repo.change(t, "production", "shop 1.2.0: order summary by status", func(dir string) {
		views := filepath.Join(dir, "orders", "views.py")
		replaceIn(t, views, "import json\n", "import itertools\nimport json\n")
		replaceIn(t, views, "from django.conf import settings\n", "from django.conf import settings\nfrom django.db.models import Count\n")
		replaceIn(t, views, versionLine, versionLine+"_summary_rollout = itertools.count(1)\n")
		replaceIn(t, views, homeReturn, badSummary+homeReturn)
		mustWrite(t, filepath.Join(dir, "VERSION"), "1.2.0\n")
	})
	out = e.op(t, "green", "green", "deploy", "blue")
	wantAll(t, "deploy of the bad release", out, "green still passes its 4 checks", "blue passed its 4 checks", textout.Short(badSHA))

	switched = time.Now()
	e.poll.expect("green", "blue") // the watch may switch back at any time
	wantAll(t, "switch to the bad release", e.s.mustCLI(t, "switch", "blue"), "watching blue until")
	for deadline := switched.Add(30 * time.Second); e.color(t) != "green"; {
		if time.Now().After(deadline) {
			t.Fatalf("blue (1.2.0) still live 30s after the switch: the watch did not roll back")
		}
		waitLoadProgress(t, e.load)
	}
	e.poll.expect("green")
	t.Logf("the watch rolled back %s after the switch", time.Since(switched).Round(time.Millisecond))

	evs := history(t, e.s)
	rb := findEvent(t, evs, "the automatic rollback", func(ev bluegreen.Event) bool {
		return ev.Action == bluegreen.ActionRollback && ev.Outcome == bluegreen.OutcomeOK && ev.Details["automatic"] == true
	})
	fig, _ := rb.Details["figures"].(map[string]any)
	ratio, _ := fig["error_ratio"].(float64)
	if rb.Color != bluegreen.Green || rb.Actor != "bluegreen (watch)" || !strings.Contains(rb.Message, "5xx ratio") || ratio < 0.1 || ratio > 0.5 {
		t.Errorf("rollback event %+v: want back to green by the watch with a 5xx ratio of about 0.25", rb)
	}
	findEvent(t, evs, "blue failing its watch", func(ev bluegreen.Event) bool {
		return ev.Action == bluegreen.ActionWatch && ev.Outcome == bluegreen.OutcomeFailed && ev.Color == bluegreen.Blue
	})
	wantAll(t, "history", e.s.mustCLI(t, "history", "--action", "rollback"), "bluegreen (watch)", "5xx ratio")
	wantAll(t, "blue's log", e.s.mustCLI(t, "logs", "blue", "--lines", "200"), "Cannot resolve keyword 'status' into field")

	snap := e.load.Snapshot()
	for kind, n := range snap.Failures {
		if kind != "status 500" {
			t.Errorf("load: %d failures of kind %q, only the bad release's 500s are allowed (%v)", n, kind, snap.FirstErrors)
		}
	}
	if snap.Failures["status 500"] == 0 || snap.Failures["status 500"] > snap.ByColor["blue"]/2 {
		t.Errorf("load: %d 500s, %d answers by blue in all: want some, all from the bad release", snap.Failures["status 500"], snap.ByColor["blue"])
	}
	m := metrics(t, e.s)
	if m[`bluegreen_requests_total{color="green",class="5xx"}`] != 0 || m[`bluegreen_requests_total{color="blue",class="5xx"}`] < 1 ||
		m[`bluegreen_rollbacks_total{kind="automatic"}`] != 1 {
		t.Errorf("metrics: want 5xx from blue only and one automatic rollback: %v", m)
	}
	e.wantHome(t, e.s.public, "green", "1.1.0", 1)
	first := e.stop(t)
	t.Logf("step 2 (bad release rolled back) done after %s", time.Since(began).Round(time.Millisecond))
	e.poll = startColorPoller(t, e.s.public, e.color(t))
	e.startLoad(t) // step 3's load: it must see no failure at all

	// 3. The rename: branch blue starts from production and gets the fix;
	// one line of the configuration changes and serve reloads it (SIGHUP),
	// with the load running.
	git(t, repo.dir, "branch", "blue", "production")
	fixSHA := repo.change(t, "blue", "shop 1.2.1: revert the order summary", func(dir string) {
		orig, err := os.ReadFile(filepath.Join(djangoExample, "orders", "views.py"))
		if err != nil {
			t.Fatal(err)
		}
		mustWrite(t, filepath.Join(dir, "orders", "views.py"), string(orig))
		mustWrite(t, filepath.Join(dir, "VERSION"), "1.2.1\n")
	})
	before, err := os.ReadFile(e.s.config)
	if err != nil {
		t.Fatal(err)
	}
	after := strings.Replace(string(before), "  branch: production ", "  branch: blue ", 1)
	if changed := diffLines(string(before), after); changed != 1 {
		t.Fatalf("the rename changed %d lines of the configuration, want 1", changed)
	}
	mustWrite(t, e.s.config, after)
	if msg := reloadAndWait(t, e.s); !strings.HasPrefix(msg, "configuration reloaded") || strings.Contains(msg, "restart") {
		t.Fatalf("reloading the renamed branch: %q", msg)
	}
	e.wantHome(t, e.s.public, "green", "1.1.0", 1)
	if br := status(t, e.s).State.Colors[bluegreen.Blue].Branch; br != "blue" {
		t.Fatalf("after the reload blue's branch is %q, want blue", br)
	}
	out = e.op(t, "green", "green", "deploy", "blue")
	wantAll(t, "deploy blue after the rename", out, "deploying blue into blue", "blue passed its 4 checks")
	st = status(t, e.s)
	if b := st.State.Colors[bluegreen.Blue].Release; b == nil || b.Ref != "blue" || b.SHA != fixSHA {
		t.Fatalf("blue's release after the rename %+v, want ref blue at %s", b, fixSHA)
	}
	wantAll(t, "status", e.s.mustCLI(t, "status"), textout.Short(fixSHA)+" blue (")
	e.wantHome(t, e.s.preview, "blue", "1.2.1", 1)
	e.wantNoFailures(t, "step 3")
	second := e.stop(t)

	t.Logf("Django workflow in %s: %d + %d requests, %d failed (all 500s of the bad release), colors %v %v",
		time.Since(began).Round(time.Millisecond), first.Requests, second.Requests, first.Failed, first.ByColor, second.ByColor)
}

// Edits of the example that make the test's releases.
const (
	noteAfter     = "    total = models.DecimalField(max_digits=10, decimal_places=2)\n"
	noteField     = "    note = models.TextField(null=True, blank=True)  # nullable: the live release still inserts without it\n"
	noteMigration = `from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [("orders", "0001_initial")]

    operations = [
        migrations.AddField(model_name="order", name="note", field=models.TextField(blank=True, null=True)),
    ]
`
	versionLine = "VERSION = (settings.BASE_DIR / \"VERSION\").read_text().strip()\n"
	homeReturn  = "    return JsonResponse(body)\n"
	badSummary  = `    if next(_summary_rollout) % 4 == 0:  # roll the summary out to one request in four first
        body["by_status"] = dict(Order.objects.values_list("status").annotate(n=Count("id")))
`
)

// requireDjango makes Debian's python3 (with Django) and gunicorn the ones
// serve, its build steps and the app find first on PATH, or skips the test
// (fails it in CI) when they are missing.
func requireDjango(t *testing.T) {
	t.Helper()
	t.Setenv("PATH", "/usr/bin:"+os.Getenv("PATH"))
	testenv.LookPath(t, "gunicorn", "python3-django gunicorn", "/usr/bin/gunicorn")
	if out, err := exec.Command("/usr/bin/python3", "-c", "import django").CombinedOutput(); err != nil {
		testenv.Missing(t, "Django for /usr/bin/python3 ("+strings.TrimSpace(string(out))+")", "python3-django")
	}
}

// djangoRepo is a git repository made from the example, with branches
// production and green at its first commit.
type djangoRepo struct{ dir string }

func newDjangoRepo(t *testing.T) *djangoRepo {
	t.Helper()
	r := &djangoRepo{dir: filepath.Join(t.TempDir(), "shop")}
	copyTree(t, djangoExample, r.dir)
	git(t, r.dir, "init", "-q")
	git(t, r.dir, "add", "-A")
	git(t, r.dir, "commit", "-q", "-m", "shop 1.0.0")
	git(t, r.dir, "branch", "green")
	return r
}

// change checks out branch, lets edit change the working tree, commits
// everything and returns the new commit's sha.
func (r *djangoRepo) change(t *testing.T, branch, msg string, edit func(dir string)) string {
	t.Helper()
	git(t, r.dir, "checkout", "-q", branch)
	edit(r.dir)
	git(t, r.dir, "add", "-A")
	git(t, r.dir, "commit", "-q", "-m", msg)
	return git(t, r.dir, "rev-parse", "HEAD")
}

// copyTree copies the regular files of src into dst, leaving out what a
// local run of the example leaves behind (state, caches, collected files).
func copyTree(t *testing.T, src, dst string) {
	t.Helper()
	err := filepath.WalkDir(src, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, path)
		switch {
		case d.IsDir() && (d.Name() == ".bluegreen" || d.Name() == "__pycache__" || d.Name() == "staticfiles"):
			return filepath.SkipDir
		case d.IsDir():
			return os.MkdirAll(filepath.Join(dst, rel), 0o755)
		case !d.Type().IsRegular() || d.Name() == "db.sqlite3":
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dst, rel), b, info.Mode().Perm())
	})
	if err != nil {
		t.Fatalf("copying the example: %v", err)
	}
}

// djangoConfig writes the example's own bluegreen.yaml into dir with only
// what must differ here replaced: free ports, the repository, the shared
// database and a short watch with a loose latency limit.
func djangoConfig(t *testing.T, dir, repo, db string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(djangoExample, "bluegreen.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	cfg := string(b)
	for _, r := range [][2]string{
		{"listen: 127.0.0.1:8080 ", fmt.Sprintf("listen: 127.0.0.1:%d ", freePort(t))},
		{"preview: 127.0.0.1:8081 ", fmt.Sprintf("preview: 127.0.0.1:%d ", freePort(t))},
		{"api: 127.0.0.1:8082 ", fmt.Sprintf("api: 127.0.0.1:%d ", freePort(t))},
		{"  port: 9001\n", fmt.Sprintf("  port: %d\n", freePort(t))},
		{"  port: 9002\n", fmt.Sprintf("  port: %d\n", freePort(t))},
		{"  repo: . ", fmt.Sprintf("  repo: %q ", repo)},
		{"DATABASE_PATH: /var/lib/shop/db.sqlite3\n", fmt.Sprintf("DATABASE_PATH: %q\n", db)},
		{"  window: 5m\n", "  window: 3s\n"},
		{"  interval: 10s\n", "  interval: 250ms\n"},
		{"  min_requests: 50\n", "  min_requests: 30\n"},
		// The machine is shared with other tests: judge latency loosely;
		// what this test's bad release breaks is the error ratio.
		{"  max_p99: 2s\n", "  max_p99: 10s\n"},
	} {
		if strings.Count(cfg, r[0]) != 1 {
			t.Fatalf("the example's bluegreen.yaml has %d times %q, want 1", strings.Count(cfg, r[0]), r[0])
		}
		cfg = strings.Replace(cfg, r[0], r[1], 1)
	}
	path := filepath.Join(dir, "bluegreen.yaml")
	mustWrite(t, path, cfg)
	return path
}

// djangoEnv is a running serve of the example with the poller of its color
// endpoint and, once started, the load client.
type djangoEnv struct {
	s        *server
	stateDir string
	poll     *colorPoller
	load     *loadgen.Runner
}

// startDjango starts serve with cfg, stopping the apps it starts when the
// test ends (they outlive serve by design).
func startDjango(t *testing.T, cfg string) *djangoEnv {
	t.Helper()
	stateDir := filepath.Join(filepath.Dir(cfg), ".bluegreen")
	t.Cleanup(func() { stopApps(t, stateDir) })
	return startDjangoServe(t, cfg, stateDir)
}

func startDjangoServe(t *testing.T, cfg, stateDir string) *djangoEnv {
	t.Helper()
	s := startServe(t, cfg)
	e := &djangoEnv{s: s, stateDir: stateDir}
	e.poll = startColorPoller(t, s.public, e.color(t))
	return e
}

// startLoad starts the load client on the public listener's home page.
func (e *djangoEnv) startLoad(t *testing.T) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	t.Cleanup(cancel)
	load, err := loadgen.Start(ctx, loadgen.Options{URL: "http://" + e.s.public + "/", Connections: 4, Rate: 30})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { load.Stop() })
	e.load = load
}

// stop ends the load and the poller, checks the poller's answers and
// returns the load's result.
func (e *djangoEnv) stop(t *testing.T) *loadgen.Result {
	t.Helper()
	res := e.load.Stop()
	e.poll.check(t)
	e.poll.halt()
	return res
}

// color is the live color as the CLI says.
func (e *djangoEnv) color(t *testing.T) string {
	t.Helper()
	return strings.TrimSpace(e.s.mustCLI(t, "color"))
}

// op runs a CLI verb that leaves the live color from → to: the CLI's
// `color` must say from before it and to after it; while it runs the color
// endpoint may answer either, afterwards only to.
func (e *djangoEnv) op(t *testing.T, from, to string, args ...string) string {
	t.Helper()
	if got := e.color(t); got != from {
		t.Fatalf("before `bluegreen %s` the live color is %s, want %s", strings.Join(args, " "), got, from)
	}
	e.poll.expect(from, to)
	began := time.Now()
	out := e.s.mustCLI(t, args...)
	t.Logf("bluegreen %s: %s", strings.Join(args, " "), time.Since(began).Round(time.Millisecond))
	if got := e.color(t); got != to {
		t.Fatalf("after `bluegreen %s` the live color is %s, want %s\n%s", strings.Join(args, " "), got, to, out)
	}
	e.poll.expect(to)
	e.poll.check(t)
	return out
}

// waitEvent polls the history, as the load client makes progress (the
// watch judges traffic), until an event matches or d has passed.
func (e *djangoEnv) waitEvent(t *testing.T, what string, d time.Duration, match func(bluegreen.Event) bool) bluegreen.Event {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		evs := history(t, e.s)
		for _, ev := range evs {
			if match(ev) {
				return ev
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no %s in the history within %s:\n%s", what, d, describeEvents(evs))
		}
		waitLoadProgress(t, e.load)
	}
}

// wantHome checks the home page behind addr (public or preview listener).
func (e *djangoEnv) wantHome(t *testing.T, addr, color, version string, orders int) {
	t.Helper()
	code, body, _ := get(t, "http://"+addr+"/")
	type home struct {
		App, Version, Color string
		Orders              int
	}
	if got, want := decodeJSON[home](t, body), (home{"shop", version, color, orders}); code != http.StatusOK || got != want {
		t.Fatalf("home page behind %s: %d %s, want %+v", addr, code, body, want)
	}
}

// wantNoFailures fails the test if any request of the load so far failed.
func (e *djangoEnv) wantNoFailures(t *testing.T, when string) {
	t.Helper()
	if snap := e.load.Snapshot(); snap.Failed != 0 || snap.OK == 0 {
		t.Fatalf("load after %s: %d ok, %d failed %v %v", when, snap.OK, snap.Failed, snap.Failures, snap.FirstErrors)
	}
}

// colorPoller asks the public listener's /deployment/color/ over and over
// and checks each answer against the colors the test allows at that
// moment: the committed color, or either while an operation that may move
// it runs. An answer is judged against what was allowed when it was asked
// and when it came back, so a change of the allowed set during a request
// cannot make a right answer wrong.
type colorPoller struct {
	url       string
	stopOnce  sync.Once
	stopCh    chan struct{}
	done      chan struct{}
	mu        sync.Mutex
	allowed   []string
	polls     int
	wrong     []string // the first few answers that were not allowed
	wrongSeen int
}

func startColorPoller(t *testing.T, public, live string) *colorPoller {
	t.Helper()
	p := &colorPoller{url: "http://" + public + "/deployment/color/", allowed: []string{live},
		stopCh: make(chan struct{}), done: make(chan struct{})}
	go p.run()
	t.Cleanup(p.halt)
	return p
}

func (p *colorPoller) run() {
	defer close(p.done)
	client := &http.Client{Timeout: 5 * time.Second}
	tick := time.NewTicker(20 * time.Millisecond) // the polling rate, not a synchronisation
	defer tick.Stop()
	for {
		select {
		case <-p.stopCh:
			return
		case <-tick.C:
		}
		before := p.allowedNow()
		color, err := p.ask(client)
		after := p.allowedNow()
		p.mu.Lock()
		p.polls++
		bad := ""
		switch {
		case err != nil:
			bad = err.Error()
		case !slices.Contains(before, color) && !slices.Contains(after, color):
			bad = fmt.Sprintf("answered %s while the committed color was %v", color, after)
		}
		if bad != "" {
			p.wrongSeen++
			if len(p.wrong) < 5 {
				p.wrong = append(p.wrong, bad)
			}
		}
		p.mu.Unlock()
	}
}

// ask fetches the color; anything but 200 {"color":"blue"|"green"} is an error.
func (p *colorPoller) ask(client *http.Client) (string, error) {
	resp, err := client.Get(p.url)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1024))
	if err != nil {
		return "", err
	}
	var v struct {
		Color string `json:"color"`
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if resp.StatusCode != http.StatusOK || dec.Decode(&v) != nil || (v.Color != "blue" && v.Color != "green") {
		return "", fmt.Errorf("answered %s %q, want 200 {\"color\":\"blue\"} or {\"color\":\"green\"}", resp.Status, body)
	}
	return v.Color, nil
}

func (p *colorPoller) allowedNow() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.allowed
}

// expect sets the colors the endpoint may answer from now on.
func (p *colorPoller) expect(colors ...string) {
	p.mu.Lock()
	p.allowed = colors
	p.mu.Unlock()
}

// check fails the test if an answer so far was wrong or none came.
func (p *colorPoller) check(t *testing.T) {
	t.Helper()
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.wrongSeen > 0 || p.polls == 0 {
		t.Fatalf("/deployment/color/: %d of %d answers wrong, first: %v", p.wrongSeen, p.polls, p.wrong)
	}
}

// halt stops the poller and waits for it.
func (p *colorPoller) halt() {
	p.stopOnce.Do(func() { close(p.stopCh) })
	<-p.done
}

// postJSON sends body as JSON and returns the status, body and headers.
func postJSON(t *testing.T, url, body string) (int, string, http.Header) {
	t.Helper()
	resp, err := http.Post(url, "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), resp.Header
}

// replaceIn replaces the one occurrence of old in file by new.
func replaceIn(t *testing.T, file, old, new string) {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(string(b), old); n != 1 {
		t.Fatalf("%s holds %d times %q, want 1 (has the example changed?)", file, n, old)
	}
	mustWrite(t, file, strings.Replace(string(b), old, new, 1))
}

func mustWrite(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// wantAll fails the test unless out contains every one of want.
func wantAll(t *testing.T, what, out string, want ...string) {
	t.Helper()
	for _, w := range want {
		if !strings.Contains(out, w) {
			t.Fatalf("%s: output lacks %q:\n%s", what, w, out)
		}
	}
}

// tableRow reports whether out has a table row for name (its first
// column) whose columns include want.
func tableRow(out, name, want string) bool {
	for _, line := range strings.Split(out, "\n") {
		if f := strings.Fields(line); len(f) > 1 && f[0] == name && slices.Contains(f[1:], want) {
			return true
		}
	}
	return false
}

// diffLines counts the lines that differ between a and b (same length).
func diffLines(a, b string) int {
	al, bl := strings.Split(a, "\n"), strings.Split(b, "\n")
	if len(al) != len(bl) {
		return -1
	}
	n := 0
	for i := range al {
		if al[i] != bl[i] {
			n++
		}
	}
	return n
}
