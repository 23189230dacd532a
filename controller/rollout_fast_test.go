package controller_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bluegreen/bluegreen"
	"github.com/bluegreen/bluegreen/controller"
)

// fakeAgents plays the agents of green's hosts in process: each reports
// every few milliseconds and carries out an order as its behaviour says:
// "ok" (started after a few reports), "fail" (a failing build step) or
// "silent" (stops reporting once ordered). It notes the most hosts that
// held an order at once.
type fakeAgents struct {
	ctl      *controller.Controller
	behave   map[string]string
	mu       sync.Mutex
	reports  map[string]bluegreen.AgentReport
	maxOrder int
}

func (a *fakeAgents) run(ctx context.Context, hosts []string) {
	silent := map[string]bool{}
	for ctx.Err() == nil {
		ordered := 0
		for _, h := range hosts {
			if hi, err := a.ctl.HostInfo(ctx, h); err == nil && hi.Order != nil {
				ordered++
			}
		}
		for i, h := range hosts {
			if silent[h] {
				continue
			}
			a.mu.Lock()
			rep := a.reports[h]
			a.mu.Unlock()
			hi, err := a.ctl.AgentReport(ctx, h, rep, 0)
			if err != nil || hi.Order == nil {
				continue
			}
			o := hi.Order
			if rep.Work != nil && rep.Work.Deployment == o.Deployment && rep.Work.Phase.Final() {
				continue // carried out already
			}
			switch a.behave[h] {
			case "silent":
				silent[h] = true
				continue
			case "fail":
				rep.Work = &bluegreen.AgentWork{Deployment: o.Deployment, SHA: o.SHA, Phase: bluegreen.AgentFailed,
					Step: "build 1/1", Error: "build 1/1 exited with status 1", Output: []string{"make: *** no rule"}}
			default:
				// Building until the controller has seen it (its record of
				// the rollout says so), then started.
				if a.phaseSeen(h) != bluegreen.AgentBuilding {
					rep.Work = &bluegreen.AgentWork{Deployment: o.Deployment, SHA: o.SHA, Phase: bluegreen.AgentBuilding, Step: "build 1/1"}
					break
				}
				rep.Work = &bluegreen.AgentWork{Deployment: o.Deployment, SHA: o.SHA, Phase: bluegreen.AgentStarted}
				rep.Release, rep.Deployment, rep.AppPID = o.SHA, o.Deployment, 100+i
			}
			a.mu.Lock()
			a.reports[h] = rep
			a.mu.Unlock()
		}
		a.mu.Lock()
		a.maxOrder = max(a.maxOrder, ordered)
		a.mu.Unlock()
		select {
		case <-ctx.Done():
		case <-time.After(5 * time.Millisecond): // the agents' report period, not a synchronisation
		}
	}
}

// phaseSeen returns host's phase in the controller's record of green's
// deployment (read from a clone of the state while the rollout runs: the
// race detector checks that the clone shares nothing with it).
func (a *fakeAgents) phaseSeen(host string) bluegreen.AgentPhase {
	d := a.ctl.State().Colors[bluegreen.Green].Deployment
	if d == nil {
		return ""
	}
	for _, h := range d.Hosts {
		if h.Host == host && d.Status == bluegreen.DeploymentRunning {
			return h.Phase
		}
	}
	return ""
}

// newRollout is a fast controller whose green runs on app-1..app-3 with
// agents, behaving as behave says (missing: ok).
func newRollout(t *testing.T, agents controller.Agents, behave map[string]string) (*fast, *fakeAgents) {
	t.Helper()
	hosts := []string{"app-1", "app-2", "app-3"}
	agents.Hosts = map[bluegreen.Color][]controller.AgentHost{}
	for i, h := range hosts {
		agents.Hosts[bluegreen.Green] = append(agents.Hosts[bluegreen.Green], controller.AgentHost{Name: h, Address: fmt.Sprintf("10.0.0.%d:8000", i+1)})
	}
	agents.Run = "./server"
	f := newFast(t, func(o *controller.Options) {
		o.Deploy.Agents = &agents
		o.Deploy.Build = []string{"make"}
		o.Gates.VerifyOnDeploy = true
	})
	f.health.hosts = map[bluegreen.Color][]string{bluegreen.Green: hosts}
	fa := &fakeAgents{ctl: f.ctl, behave: behave, reports: map[string]bluegreen.AgentReport{}}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { fa.run(ctx, hosts); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	return f, fa
}

func deployGreen(t *testing.T, f *fast, ref string) (bluegreen.Deployment, []string, error) {
	t.Helper()
	var lines []string
	d, err := f.ctl.Deploy(t.Context(), bluegreen.DeployRequest{Color: bluegreen.Green, Ref: ref, Actor: "ada"},
		func(p bluegreen.Progress) { lines = append(lines, p.Line) })
	return d, lines, err
}

func hostStatuses(d bluegreen.Deployment) string {
	var out []string
	for _, h := range d.Hosts {
		out = append(out, h.Host+"="+string(h.Status))
	}
	return strings.Join(out, " ")
}

// TestFastRolloutOneAtATime: max_parallel 1 orders one host at a time;
// every host passes; the release is recorded, nothing ran on serve's
// machine, and the order carries the build steps, the command and the
// host's PORT.
func TestFastRolloutOneAtATime(t *testing.T) {
	f, fa := newRollout(t, controller.Agents{MaxParallel: 1}, nil)
	d, lines, err := deployGreen(t, f, "v2")
	if err != nil {
		t.Fatalf("deploy: %v\n%s", err, strings.Join(lines, "\n"))
	}
	if got := hostStatuses(d); got != "app-1=ok app-2=ok app-3=ok" {
		t.Errorf("hosts %s; want all ok", got)
	}
	fa.mu.Lock()
	most := fa.maxOrder
	fa.mu.Unlock()
	if most != 1 {
		t.Errorf("at most %d hosts held an order at once; want 1 (max_parallel 1)", most)
	}
	if got := f.driver.log(); len(got) != 0 {
		t.Errorf("the local driver ran %v; want nothing (the agents run the app)", got)
	}
	if rel := f.ctl.State().Colors[bluegreen.Green].Release; rel == nil || rel.SHA != "sha-v2" || rel.Dir != "" {
		t.Errorf("green's release %+v; want sha-v2 without a local directory", rel)
	}
	if !strings.Contains(strings.Join(lines, "\n"), "app-2: building (build 1/1)") {
		t.Errorf("progress lacks the hosts' phases:\n%s", strings.Join(lines, "\n"))
	}
	if _, err := f.ctl.Switch(t.Context(), bluegreen.SwitchRequest{To: bluegreen.Green, Actor: "ada"}); err != nil {
		t.Errorf("switch to a color whose hosts all run its release: %v", err)
	}
}

// TestFastRolloutParallel: without max_parallel every host is ordered at
// once, and a HostOrder is what the agent needs.
func TestFastRolloutParallel(t *testing.T) {
	f, fa := newRollout(t, controller.Agents{Env: []string{"DEBUG=1"}, Timeout: time.Second}, map[string]string{"app-2": "silent"})
	ctx := t.Context()
	deployed := make(chan error, 1)
	go func() {
		_, err := f.ctl.Deploy(ctx, bluegreen.DeployRequest{Color: bluegreen.Green, Ref: "v2", Actor: "ada"}, nil)
		deployed <- err
	}()
	var o *bluegreen.HostOrder
	deadline := time.Now().Add(5 * time.Second)
	for o == nil && time.Now().Before(deadline) {
		hi, err := f.ctl.HostInfo(ctx, "app-2")
		if err == nil && hi.Order != nil {
			o = hi.Order
		}
		time.Sleep(time.Millisecond)
	}
	if o == nil {
		t.Fatal("app-2 got no order within 5s")
	}
	env := strings.Join(o.Env, " ")
	if o.SHA != "sha-v2" || o.Run != "./server" || len(o.Build) != 1 || o.Color != bluegreen.Green ||
		!strings.Contains(env, "DEBUG=1") || !strings.Contains(env, "PORT=8000") || !strings.Contains(env, "BLUEGREEN_HOST=app-2") || !strings.Contains(env, "BLUEGREEN_ADDRESS=10.0.0.2:8000") {
		t.Errorf("order %+v; want sha-v2, ./server, make, the app's env with PORT and BLUEGREEN_HOST", o)
	}
	if err := testWait(func() bool { fa.mu.Lock(); defer fa.mu.Unlock(); return fa.maxOrder == 3 }); err != nil {
		t.Errorf("fewer than 3 hosts held an order at once; want 3 (no max_parallel): %v", err)
	}
	if err := <-deployed; err == nil || !strings.Contains(err.Error(), "app-2: its agent has not reported for") {
		t.Errorf("deploy: %v; want app-2 failed, silent", err)
	}
}

// TestFastRolloutHostFails: a host whose build fails fails the deploy with
// its output; the other hosts run the new release, so the color is
// half-deployed and a switch to it is refused naming the hosts.
func TestFastRolloutHostFails(t *testing.T) {
	f, fa := newRollout(t, controller.Agents{}, nil)
	if _, _, err := deployGreen(t, f, "v1"); err != nil {
		t.Fatal(err)
	}
	fa.mu.Lock()
	fa.behave = map[string]string{"app-2": "fail"}
	fa.mu.Unlock()
	d, _, err := deployGreen(t, f, "v2")
	if err == nil || !strings.Contains(err.Error(), "2 of 3 hosts passed, 3 needed: app-2: build 1/1 exited with status 1") {
		t.Fatalf("deploy: %v; want it failed naming app-2", err)
	}
	if got := hostStatuses(d); got != "app-1=ok app-2=failed app-3=ok" {
		t.Errorf("hosts %s", got)
	}
	if p := d.Hosts[1]; len(p.Output) != 1 || p.Output[0] != "make: *** no rule" {
		t.Errorf("app-2's part %+v; want its output", p)
	}
	if rel := f.ctl.State().Colors[bluegreen.Green].Release; rel == nil || rel.SHA != "sha-v1" {
		t.Errorf("green's release %+v; want sha-v1 still", rel)
	}
	_, err = f.ctl.Switch(t.Context(), bluegreen.SwitchRequest{To: bluegreen.Green, Actor: "ada"})
	if err == nil || !strings.Contains(err.Error(), "green is half-deployed: its release is sha-v1 but app-1 runs sha-v2, app-3 runs sha-v2") {
		t.Errorf("switch to a half-deployed green: %v", err)
	}
	if f.router.serving() != bluegreen.Blue {
		t.Error("the router moved")
	}
}

// TestFastRolloutSilentAgent: an agent that falls silent with an order
// fails its host after the agent timeout; with min_healthy 2 the deploy
// still succeeds, the host reported failed.
func TestFastRolloutSilentAgent(t *testing.T) {
	f, _ := newRollout(t, controller.Agents{MinHealthy: 2, Timeout: 300 * time.Millisecond}, map[string]string{"app-3": "silent"})
	d, lines, err := deployGreen(t, f, "v2")
	if err != nil {
		t.Fatalf("deploy: %v\n%s", err, strings.Join(lines, "\n"))
	}
	if got := hostStatuses(d); got != "app-1=ok app-2=ok app-3=failed" {
		t.Errorf("hosts %s", got)
	}
	if e := d.Hosts[2].Error; !strings.HasPrefix(e, "its agent has not reported for") {
		t.Errorf("app-3's error %q", e)
	}
	if !strings.Contains(strings.Join(lines, "\n"), "2 of 3 hosts run sha-v2") {
		t.Errorf("progress:\n%s", strings.Join(lines, "\n"))
	}
}

// testWait polls cond until it holds or 5s pass.
func testWait(cond func() bool) error {
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			return fmt.Errorf("condition not met within 5s")
		}
		time.Sleep(time.Millisecond)
	}
	return nil
}

// TestFastReportWaitsForAnOrder: an idle agent's report with a wait is
// answered as soon as a deployment orders its host, not at the end of the
// wait; a report with nothing to wait for is answered at once.
func TestFastReportWaitsForAnOrder(t *testing.T) {
	f, _ := newRollout(t, controller.Agents{Timeout: time.Second}, map[string]string{"app-1": "silent", "app-2": "silent", "app-3": "silent"})
	ctx := t.Context()
	answered := make(chan bluegreen.HostInfo, 1)
	go func() {
		// A minute: the test would time out long before, were it not woken.
		hi, _ := f.ctl.AgentReport(ctx, "app-2", bluegreen.AgentReport{Version: "v1"}, time.Minute)
		answered <- hi
	}()
	deployed := make(chan error, 1)
	go func() {
		_, err := f.ctl.Deploy(ctx, bluegreen.DeployRequest{Color: bluegreen.Green, Ref: "v2", Actor: "ada"}, nil)
		deployed <- err
	}()
	defer func() { <-deployed }() // it fails once the silent agents time out
	select {
	case hi := <-answered:
		if hi.Order == nil || hi.Order.SHA != "sha-v2" {
			t.Errorf("the waiting report was answered %+v; want app-2's order of sha-v2", hi.Order)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the waiting report was not answered within 30s of the deploy")
	}
	// It has the order now and says it works on it: nothing new, a short
	// wait ends with the order unchanged.
	hi, err := f.ctl.AgentReport(ctx, "app-2", bluegreen.AgentReport{Work: &bluegreen.AgentWork{Deployment: "none"}}, 0)
	if err != nil || hi.Order == nil {
		t.Errorf("a report without a wait while ordered: %+v, %v; want the order at once", hi.Order, err)
	}
}
