package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/bluegreen/bluegreen"
	"github.com/bluegreen/bluegreen/internal/testenv"
	"github.com/bluegreen/bluegreen/loadgen"
)

// TestMetricsFormatPromtool: what /metrics serves after real traffic, a
// switch and a rollback is accepted by Prometheus' own linter.
func TestMetricsFormatPromtool(t *testing.T) {
	promtool := testenv.LookPath(t, "promtool", "prometheus")
	blue, _ := startApp(t, "blue")
	green, _ := startApp(t, "green")
	s := startServe(t, writeConfig(t, t.TempDir(), blue, green, ""))

	for range 5 {
		get(t, "http://"+s.public+"/")
	}
	for range 3 {
		get(t, "http://"+s.preview+"/")
	}
	s.mustCLI(t, "switch", "green")
	get(t, "http://"+s.public+"/")
	s.mustCLI(t, "rollback")

	// The exposition carries the traffic: the linter reads real figures.
	m := metrics(t, s)
	if m[`bluegreen_requests_total{color="blue",class="2xx"}`] < 5 || m[`bluegreen_requests_total{color="green",class="2xx"}`] < 4 ||
		m[`bluegreen_switches_total`] != 1 || m[`bluegreen_rollbacks_total{kind="manual"}`] != 1 {
		t.Fatalf("metrics do not show the traffic, the switch and the rollback: %v", m)
	}

	body := scrapeMetrics(t, s)
	cmd := exec.Command(promtool, "check", "metrics")
	cmd.Stdin = strings.NewReader(body)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("promtool check metrics: %v\n%s\nthe exposition it read:\n%s", err, out, body)
	}
	if len(out) > 0 {
		t.Logf("promtool check metrics passed with remarks:\n%s", out)
	}
}

// scrapeMetrics returns the text of s's /metrics, read with the token.
func scrapeMetrics(t *testing.T, s *server) string {
	t.Helper()
	code, body, h := get(t, "http://"+s.apiAd+"/metrics", "Authorization", "Bearer "+s.token)
	if code != http.StatusOK || !strings.HasPrefix(h.Get("Content-Type"), "text/plain; version=0.0.4") {
		t.Fatalf("/metrics: %d %s\n%s", code, h.Get("Content-Type"), body)
	}
	return body
}

// promWatch is a `watch:` section that judges a color by the Prometheus
// query alone: min_requests is out of reach, so the router's own figures
// never decide.
func promWatch(promURL, window, query string) string {
	return fmt.Sprintf(`watch:
  window: %s
  interval: 500ms
  min_requests: 1000000
  prometheus:
    url: %s
    query: '%s'
    max: 0`, window, promURL, query)
}

// TestWatchAsksPrometheus: a real Prometheus scrapes two serves' /metrics
// with their tokens, and their watches ask it about the switched-to color.
// A query whose value rises above max rolls back; a query that returns no
// sample is a probe error, which is logged and never judged.
func TestWatchAsksPrometheus(t *testing.T) {
	promBin := testenv.LookPath(t, "prometheus", "prometheus")
	// Prometheus' address goes into the serves' configs and the serves' API
	// addresses into Prometheus' config: its port is chosen first, the
	// serves start, then Prometheus.
	promURL := fmt.Sprintf("http://127.0.0.1:%d", freePort(t))
	const (
		breachQuery = `sum(bluegreen_requests_total{job="breach",color="{{color}}",class="5xx"})`
		silentQuery = `sum(bluegreen_no_such_metric{job="silent",color="{{color}}"})`
	)
	badGreen := func() *appRepo {
		r := newAppRepo(t)
		r.commit(t, "green", "green v2: every 5th request fails", map[string]string{"VERSION": "v2\n", "FAIL_EVERY": "5\n"})
		return r
	}
	breach := startGateServe(t, badGreen(), promWatch(promURL, "60s", breachQuery), "")
	silent := startGateServe(t, badGreen(), promWatch(promURL, "3s", silentQuery), "")
	prom := startPrometheus(t, promBin, promURL, map[string]*server{"breach": breach, "silent": silent})

	t.Run("value above max rolls back", func(t *testing.T) {
		t.Parallel()
		s := breach
		s.mustCLI(t, "deploy", "blue")
		load := startLoad(t, s)
		s.mustCLI(t, "deploy", "green") // its /healthz passes: verification lets it through
		prom.waitUp(t, "breach")

		if out := s.mustCLI(t, "switch", "green"); !strings.Contains(out, "watching green until") {
			t.Fatalf("switch output does not mention the watch:\n%s", out)
		}
		switched := time.Now()
		var shown *float64 // the prometheus figure status showed during the watch
		for {
			st := status(t, s)
			if w := st.State.Watch; w != nil && w.Color == bluegreen.Green && w.Figures != nil && w.Figures.Prometheus != nil {
				v := *w.Figures.Prometheus
				shown = &v
			}
			if st.State.Live == bluegreen.Blue {
				break
			}
			if time.Since(switched) > 30*time.Second {
				t.Fatalf("still %s 30s after the switch: the watch did not roll back on the prometheus value", st.State.Live)
			}
			waitLoadProgress(t, load)
		}
		t.Logf("rolled back %s after the switch", time.Since(switched).Round(time.Millisecond))
		if shown != nil {
			t.Logf("status showed prometheus %g during the watch", *shown)
			if *shown < 0 {
				t.Errorf("status showed prometheus %g during the watch: a count of 5xx answers cannot be negative", *shown)
			}
		} else {
			t.Log("the rollback came before a status showed the watch's prometheus figure; the history carries it")
		}
		load.Stop()

		evs := history(t, s)
		rb := findEvent(t, evs, "automatic rollback", func(ev bluegreen.Event) bool {
			return ev.Action == bluegreen.ActionRollback && ev.Outcome == bluegreen.OutcomeOK && ev.Details["automatic"] == true
		})
		if rb.Actor != "bluegreen (watch)" || rb.Color != bluegreen.Blue ||
			!strings.Contains(rb.Message, "prometheus query \"sum(bluegreen_requests_total{job=\\\"breach\\\",color=\\\"{{color}}\\\",class=\\\"5xx\\\"})\" returned") || !strings.Contains(rb.Message, "above the threshold 0") ||
			strings.Contains(rb.Message, "5xx ratio") {
			t.Errorf("rollback event, want one by the watch to blue naming the prometheus query and its threshold 0: %+v", rb)
		}
		fig, _ := rb.Details["figures"].(map[string]any)
		recorded, ok := fig["prometheus"].(float64)
		if !ok || recorded <= 0 {
			t.Fatalf("rollback event figures %v: want a prometheus value above 0", rb.Details["figures"])
		}
		if thr, _ := rb.Details["thresholds"].(map[string]any); thr["probe_max"] != 0.0 || !strings.HasPrefix(fmt.Sprint(thr["probe"]), "prometheus query ") {
			t.Errorf("rollback event thresholds %v: want the prometheus query as the probe, its max 0", rb.Details["thresholds"])
		}
		findEvent(t, evs, "failed watch naming the prometheus query", func(ev bluegreen.Event) bool {
			return ev.Action == bluegreen.ActionWatch && ev.Outcome == bluegreen.OutcomeFailed && ev.Color == bluegreen.Green &&
				strings.Contains(ev.Message, "bluegreen_requests_total") && strings.Contains(ev.Message, " returned ")
		})

		// The value came from Prometheus' view of green's 5xx counter: the
		// same query answers at least as much now, and nothing for blue.
		green := strings.ReplaceAll(breachQuery, "{{color}}", "green")
		if now := prom.value(t, green); len(now) != 1 || now[0] < recorded {
			t.Errorf("prometheus now answers %v to %s, want one value of at least the recorded %g", now, green, recorded)
		}
		blue := strings.ReplaceAll(breachQuery, "{{color}}", "blue")
		if now := prom.value(t, blue); len(now) != 1 || now[0] != 0 {
			t.Errorf("prometheus answers %v to %s, want 0: blue never failed", now, blue)
		}
	})

	t.Run("no sample is not judged", func(t *testing.T) {
		t.Parallel()
		s := silent
		s.mustCLI(t, "deploy", "blue")
		load := startLoad(t, s)
		s.mustCLI(t, "deploy", "green")
		prom.waitUp(t, "silent") // Prometheus answers: the query really returns nothing

		s.mustCLI(t, "switch", "green")
		switched := time.Now()
		watching := 0
		for {
			st := status(t, s)
			if st.State.Live != bluegreen.Green {
				t.Fatalf("live is %s %s after the switch: a query without a sample rolled back", st.State.Live, time.Since(switched))
			}
			w := st.State.Watch
			if w == nil {
				break
			}
			watching++
			if w.Figures != nil && w.Figures.Prometheus != nil {
				t.Fatalf("status shows prometheus %g for a query that returns no sample", *w.Figures.Prometheus)
			}
			if time.Since(switched) > 20*time.Second {
				t.Fatalf("the 3s watch still runs %s after the switch", time.Since(switched))
			}
			waitLoadProgress(t, load)
		}
		if watching == 0 {
			t.Error("status never showed the watch in progress")
		}
		res := load.Stop()

		evs := history(t, s)
		passed := findEvent(t, evs, "passed watch", func(ev bluegreen.Event) bool {
			return ev.Action == bluegreen.ActionWatch && ev.Color == bluegreen.Green
		})
		fig, _ := passed.Details["figures"].(map[string]any)
		if passed.Outcome != bluegreen.OutcomeOK || !strings.Contains(passed.Message, "green passed the watch") || fig == nil || fig["prometheus"] != nil {
			t.Errorf("end of green's watch: %+v, want passed with figures and no prometheus value", passed)
		}
		for _, ev := range evs {
			if ev.Action == bluegreen.ActionRollback {
				t.Errorf("a rollback happened: %+v", ev)
			}
		}
		if col := strings.TrimSpace(s.mustCLI(t, "color")); col != "green" {
			t.Errorf("live color after the watch is %s, want green", col)
		}
		for _, want := range []string{"watch probe failed; not judged", "bluegreen_no_such_metric", "returned 0 samples, want exactly 1"} {
			if !strings.Contains(s.stderr.String(), want) {
				t.Errorf("serve's log lacks %q", want)
			}
		}
		// Green did fail requests (the router's figures were below
		// min_requests, so only the query could have judged it).
		if res.ByColor["green"] == 0 || res.Failures["status 500"] == 0 {
			t.Errorf("load: %d requests, by color %v, failures %v: want green's 500s", res.Requests, res.ByColor, res.Failures)
		}
	})
}

// startLoad sends a steady load to s's public listener until the test ends.
func startLoad(t *testing.T, s *server) *loadgen.Runner {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	load, err := loadgen.Start(ctx, loadgen.Options{URL: "http://" + s.public + "/", Connections: 2, Rate: 300})
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	t.Cleanup(func() { load.Stop(); cancel() })
	return load
}

// promServer is a Prometheus server the test started.
type promServer struct {
	url string
	log *lockedBuffer
}

// startPrometheus runs a Prometheus listening at promURL (a free
// 127.0.0.1 port) that scrapes each job's serve's /metrics every second
// with the serve's own token file, waits until it is ready and stops it by
// PID when the test ends.
func startPrometheus(t *testing.T, bin, promURL string, jobs map[string]*server) *promServer {
	t.Helper()
	dir := t.TempDir()
	var cfg strings.Builder
	cfg.WriteString("global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\nscrape_configs:\n")
	for job, s := range jobs {
		tokenFile := filepath.Join(s.dir, "state", "api-token") // the secret stays out of Prometheus' config
		if _, err := os.Stat(tokenFile); err != nil {
			t.Fatalf("the serve of job %s has no token file where the test expects it: %v", job, err)
		}
		fmt.Fprintf(&cfg, "  - job_name: %s\n    authorization:\n      credentials_file: %s\n    static_configs:\n      - targets: ['%s']\n",
			job, tokenFile, s.apiAd)
	}
	cfgPath := filepath.Join(dir, "prometheus.yml")
	if err := os.WriteFile(cfgPath, []byte(cfg.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	p := &promServer{url: promURL, log: &lockedBuffer{}}
	cmd := exec.Command(bin, "--config.file="+cfgPath, "--storage.tsdb.path="+filepath.Join(dir, "data"),
		"--web.listen-address="+strings.TrimPrefix(promURL, "http://"))
	cmd.Stdout, cmd.Stderr = p.log, p.log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
		if t.Failed() {
			t.Logf("prometheus config:\n%s\nprometheus log:\n%s", cfg.String(), p.log.String())
		}
	})
	testenv.WaitFor(t, 30*time.Second, "prometheus to be ready", func() bool {
		select {
		case <-done:
			t.Fatalf("prometheus exited:\n%s", p.log.String())
		default:
		}
		code, _, err := getMaybe(promURL + "/-/ready")
		return err == nil && code == http.StatusOK
	})
	return p
}

// waitUp waits until Prometheus has scraped job's target successfully
// (static targets reach the scraper about 5s after start).
func (p *promServer) waitUp(t *testing.T, job string) {
	t.Helper()
	testenv.WaitFor(t, 30*time.Second, "prometheus to scrape "+job, func() bool {
		v := p.value(t, fmt.Sprintf(`up{job=%q}`, job))
		return len(v) == 1 && v[0] == 1
	})
}

// value runs an instant query and returns the values of its samples.
func (p *promServer) value(t *testing.T, expr string) []float64 {
	t.Helper()
	resp, err := http.Get(p.url + "/api/v1/query?query=" + url.QueryEscape(expr))
	if err != nil {
		t.Fatalf("querying prometheus: %v", err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var body struct {
		Status string `json:"status"`
		Data   struct {
			Result []struct {
				Value [2]any `json:"value"`
			} `json:"result"`
		} `json:"data"`
	}
	if err := json.Unmarshal(raw, &body); err != nil || body.Status != "success" {
		t.Fatalf("prometheus query %s: %s %s (%v)", expr, resp.Status, raw, err)
	}
	var out []float64
	for _, r := range body.Data.Result {
		s, _ := r.Value[1].(string)
		f, err := strconv.ParseFloat(s, 64)
		if err != nil {
			t.Fatalf("prometheus query %s: value %v is not a number", expr, r.Value[1])
		}
		out = append(out, f)
	}
	return out
}
