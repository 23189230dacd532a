package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/bluegreen/bluegreen"
	"github.com/bluegreen/bluegreen/api"
	"github.com/bluegreen/bluegreen/config"
	"github.com/bluegreen/bluegreen/loadgen"
)

func newDemoCmd(g *globals) *cobra.Command {
	var (
		switches    int
		connections int
		keep        bool
	)
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "Run the whole blue-green story on this machine with two built-in apps",
		Long: "demo starts two tiny built-in apps (blue and green), a bluegreen server on a temporary\n" +
			"state directory and a load client, switches traffic back and forth under load, rolls back,\n" +
			"and prints what happened. It exits 1 if any request failed.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if switches < 1 || connections < 1 {
				return usageErrorf("--switches and --connections must be at least 1")
			}
			out, summary := g.stdout, (*demoSummary)(nil)
			if g.json() {
				out, summary = io.Discard, &demoSummary{}
			}
			err := runDemo(cmd.Context(), out, switches, connections, keep, summary)
			if summary != nil && summary.Requests > 0 {
				if werr := writeJSON(g.stdout, summary); werr != nil && err == nil {
					err = werr
				}
			}
			return err
		},
	}
	cmd.Flags().IntVar(&switches, "switches", 10, "how many switches to make under load")
	cmd.Flags().IntVar(&connections, "connections", 16, "concurrent client connections of the load")
	cmd.Flags().BoolVar(&keep, "keep", false, "keep the temporary state directory")
	return cmd
}

// startDemoApp runs the sample app for color in this process. A request to
// /slow is announced on slowStarted (without blocking) when it reaches the app.
func startDemoApp(color string, slowStarted chan<- struct{}) (string, func(), error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	app := sampleApp(color, "1.0", 0)
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			select {
			case slowStarted <- struct{}{}:
			default:
			}
		}
		app.ServeHTTP(w, r)
	})
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	return ln.Addr().String(), func() { _ = srv.Close() }, nil
}

// demoSummary is the demo's result for --output json.
type demoSummary struct {
	Requests   int64                    `json:"requests"`
	Failed     int64                    `json:"failed"`
	Failures   map[string]int64         `json:"failures,omitempty"`
	ByColor    map[string]int64         `json:"by_color"`
	Switches   []bluegreen.SwitchResult `json:"switches"`
	Rollback   bluegreen.SwitchResult   `json:"rollback"`
	LatencyP99 string                   `json:"latency_p99"`
	FinalColor bluegreen.Color          `json:"final_color"`
}

// runDemo tells the story on out; when summary is not nil it is filled too.
func runDemo(ctx context.Context, out io.Writer, switches, connections int, keep bool, summary *demoSummary) error {
	var results []bluegreen.SwitchResult
	p := func(format string, args ...any) { fmt.Fprintf(out, format+"\n", args...) }
	p("bluegreen demo: two colors of an app behind the bluegreen router, switched back and forth under load.\n")

	dir, err := os.MkdirTemp("", "bluegreen-demo-")
	if err != nil {
		return err
	}
	if !keep {
		defer os.RemoveAll(dir)
	}
	slowStarted := make(chan struct{}, 1)
	blueAddr, stopBlue, err := startDemoApp("blue", slowStarted)
	if err != nil {
		return err
	}
	defer stopBlue()
	greenAddr, stopGreen, err := startDemoApp("green", slowStarted)
	if err != nil {
		return err
	}
	defer stopGreen()
	p("1. Two copies of a tiny app are running: blue on %s, green on %s.", blueAddr, greenAddr)

	cfgText := fmt.Sprintf(`listen: 127.0.0.1:0
preview: 127.0.0.1:0
api: 127.0.0.1:0
state: %s
router:
  drain_timeout: 5s
blue:
  branch: production
  upstreams: [%s]
  health: {path: /healthz, interval: 500ms, timeout: 400ms}
green:
  branch: green
  upstreams: [%s]
  health: {path: /healthz, interval: 500ms, timeout: 400ms}
`, filepath.Join(dir, "state"), blueAddr, greenAddr)
	cfgFile := filepath.Join(dir, "bluegreen.yaml")
	if err := os.WriteFile(cfgFile, []byte(cfgText), 0o600); err != nil {
		return err
	}
	cfg, err := config.Parse(cfgFile, []byte(cfgText))
	if err != nil {
		return fmt.Errorf("demo config: %w", err)
	}

	srvCtx, stopServe := context.WithCancel(ctx)
	defer stopServe()
	readyCh := make(chan endpoints, 1)
	serveDone := make(chan error, 1)
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	go func() { serveDone <- serve(srvCtx, cfg, logger, func(e endpoints) { readyCh <- e }) }()
	var ep endpoints
	select {
	case ep = <-readyCh:
	case err := <-serveDone:
		return fmt.Errorf("bluegreen serve did not start: %w", err)
	case <-time.After(30 * time.Second):
		return errors.New("bluegreen serve did not start within 30s")
	}
	p("2. bluegreen serve is up (state in %s): public http://%s, preview http://%s, api http://%s; %s is live.",
		cfg.StateDir, ep.Public, ep.Preview, ep.API, ep.Live)

	client := api.NewClient(ep.API, ep.Token, "demo")
	public := "http://" + ep.Public + "/"
	load, err := loadgen.Start(ctx, loadgen.Options{URL: public, Connections: connections})
	if err != nil {
		return err
	}
	defer load.Stop()
	p("3. A load client sends requests over %d kept-alive connections to %s and counts every failure.", connections, public)

	// waitServed waits until color has answered at least n more requests, so
	// each switch happens under real traffic.
	waitServed := func(color bluegreen.Color, n int64) error {
		start := load.Snapshot().ByColor[string(color)]
		deadline := time.Now().Add(10 * time.Second)
		for load.Snapshot().ByColor[string(color)] < start+n {
			if time.Now().After(deadline) {
				return fmt.Errorf("%s served no traffic for 10s", color)
			}
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(5 * time.Millisecond):
			}
		}
		return nil
	}
	if err := waitServed(ep.Live, 500); err != nil {
		return err
	}

	p("4. %d switches under load (each waits for the old color to drain). Before the first one, a slow", switches)
	p("   request (1.5 s) starts on %s: the switch lets it finish instead of cutting it.", ep.Live)
	slow := make(chan string, 1)
	go func() { slow <- slowRequest(ctx, "http://"+ep.Public+"/slow?ms=1500") }()
	select {
	case <-slowStarted:
	case <-time.After(10 * time.Second):
		return errors.New("the slow request did not reach the app within 10s")
	}
	var switchMS []float64
	to := ep.Live.Other()
	for i := 1; i <= switches; i++ {
		paced := time.After(200 * time.Millisecond) // so that people can follow the story
		res, err := client.Switch(ctx, bluegreen.SwitchRequest{To: to, Reason: fmt.Sprintf("demo switch %d", i)})
		if err != nil {
			return fmt.Errorf("switch %d to %s: %w", i, to, err)
		}
		switchMS = append(switchMS, res.SwitchMS)
		results = append(results, res)
		snap := load.Snapshot()
		p("   #%-2d %-5s → %-5s live %5.2f ms after the request; %s drained in %5.1f ms (%d in flight, %d cut)   load: %d requests, %d failed",
			i, res.From, res.To, res.SwitchMS, res.From, res.Drain.DurationMS, res.Drain.InFlight, res.Drain.Cancelled,
			snap.Requests, snap.Failed)
		if i == 1 {
			p("       the slow request started before the switch: %s", <-slow)
		}
		if err := waitServed(to, 300); err != nil {
			return err
		}
		<-paced
		to = to.Other()
	}

	res, err := client.Rollback(ctx, bluegreen.SwitchRequest{Reason: "demo rollback"})
	if err != nil {
		return fmt.Errorf("rollback: %w", err)
	}
	switchMS = append(switchMS, res.SwitchMS)
	p("5. A rollback: %s → %s, live %.2f ms after the request; %s drained in %.1f ms.",
		res.From, res.To, res.SwitchMS, res.From, res.Drain.DurationMS)
	if err := waitServed(res.To, 300); err != nil {
		return err
	}

	final := load.Stop()
	color, err := client.Color(ctx)
	if err != nil {
		return err
	}
	evs, err := client.History(ctx, bluegreen.HistoryFilter{Limit: 1000})
	if err != nil {
		return err
	}
	counts := map[string]int{}
	for _, e := range evs {
		counts[e.Action]++
	}

	sort.Float64s(switchMS)
	p("\n6. What happened:")
	p("   requests   %d in %s (%.0f/s)", final.Requests, final.Elapsed.Round(time.Millisecond), final.RPS())
	p("   by color   %s", joinColors(final.ByColor))
	p("   latency    p50 %s, p99 %s, max %s", final.Latency.P50, final.Latency.P99, final.Latency.Max)
	p("   switches   %d and 1 rollback; live after the API got them: median %.2f ms, max %.2f ms",
		switches, switchMS[len(switchMS)/2], switchMS[len(switchMS)-1])
	p("   history    %d switch, %d rollback, %d drain events recorded; /deployment/color/ says %s",
		counts[bluegreen.ActionSwitch], counts[bluegreen.ActionRollback], counts[bluegreen.ActionDrain], color)
	if final.Failed > 0 {
		p("   failures   %v; first: %s", final.Failures, strings.Join(final.FirstErrors, "; "))
	}
	p("\n%d failed", final.Failed)
	if summary != nil {
		*summary = demoSummary{Requests: final.Requests, Failed: final.Failed, Failures: final.Failures,
			ByColor: final.ByColor, Switches: results, Rollback: res, LatencyP99: final.Latency.P99.String(), FinalColor: color}
	}

	stopServe()
	if err := <-serveDone; err != nil {
		return fmt.Errorf("bluegreen serve: %w", err)
	}
	if final.Failed > 0 {
		return fmt.Errorf("%d requests failed", final.Failed)
	}
	return nil
}

func joinColors(m map[string]int64) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var parts []string
	for _, k := range keys {
		name := k
		if name == "" {
			name = "(no color header)"
		}
		parts = append(parts, fmt.Sprintf("%s %d", name, m[k]))
	}
	return strings.Join(parts, ", ")
}

// slowRequest GETs url and says how it ended.
func slowRequest(ctx context.Context, url string) string {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err.Error()
	}
	start := time.Now()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "failed: " + err.Error()
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return fmt.Sprintf("%s after %s, answered by %s: %s", resp.Status, time.Since(start).Round(time.Millisecond),
		resp.Header.Get("X-Bluegreen-Color"), strings.TrimSpace(string(body)))
}
