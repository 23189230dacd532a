package controller_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bluegreen/bluegreen"
	"github.com/bluegreen/bluegreen/check"
	"github.com/bluegreen/bluegreen/controller"
	"github.com/bluegreen/bluegreen/internal/sched"
	"github.com/bluegreen/bluegreen/router"
	"github.com/bluegreen/bluegreen/runner"
	"github.com/bluegreen/bluegreen/store/sqlite"
)

// The controller is tested with the real store, router and health checks.

type routerAdapter struct{ rt *router.Router }

func (a routerAdapter) Swap(to bluegreen.Color) controller.Drainer {
	return drainAdapter{a.rt.Switch(to)}
}
func (a routerAdapter) Traffic() map[bluegreen.Color]bluegreen.TrafficStats {
	out := map[bluegreen.Color]bluegreen.TrafficStats{}
	for c, s := range a.rt.Stats() {
		out[c] = s.Traffic()
	}
	return out
}

type drainAdapter struct{ d *router.Drain }

func (a drainAdapter) Wait(ctx context.Context, timeout time.Duration) bluegreen.DrainReport {
	return a.d.Wait(ctx, timeout).Report()
}

type env struct {
	ctl    *controller.Controller
	store  *sqlite.Store
	rt     *router.Router
	status map[bluegreen.Color]*atomic.Int32 // each color's /healthz status
	// verified is the context of the controller's last health round.
	verified atomic.Pointer[context.Context]
	// onVerify, when set, runs on the goroutine of each health round.
	onVerify func()
}

// verifySpy notes the context of each Verify in env.verified.
type verifySpy struct {
	*check.Monitor
	e *env
}

func (v verifySpy) Verify(ctx context.Context, c bluegreen.Color) (bluegreen.Health, error) {
	v.e.verified.Store(&ctx)
	if v.e.onVerify != nil {
		v.e.onVerify()
	}
	return v.Monitor.Verify(ctx, c)
}

// newEnv starts two colors, a store, a router and a controller. wrap, when
// given, wraps the store the controller uses.
func newEnv(t *testing.T, wrap ...func(*sqlite.Store, *router.Router) bluegreen.Store) *env {
	t.Helper()
	return newEnvWith(t, wrap, nil)
}

// newEnvWith is newEnv with more options: opts, when not nil, changes the
// controller's Options before it is made.
func newEnvWith(t *testing.T, wrap []func(*sqlite.Store, *router.Router) bluegreen.Store,
	opts func(*controller.Options)) *env {
	t.Helper()
	ctx := context.Background()
	e := &env{status: map[bluegreen.Color]*atomic.Int32{}}
	upstreams := map[bluegreen.Color][]string{}
	targets := map[bluegreen.Color]check.Target{}
	specs := map[bluegreen.Color]controller.ColorSpec{}
	for _, c := range bluegreen.Colors {
		st := &atomic.Int32{}
		st.Store(200)
		e.status[c] = st
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == "/healthz" {
				w.WriteHeader(int(st.Load()))
				return
			}
			_, _ = w.Write([]byte(c))
		}))
		t.Cleanup(srv.Close)
		addr := strings.TrimPrefix(srv.URL, "http://")
		upstreams[c] = []string{addr}
		specs[c] = controller.ColorSpec{Branch: string(c), Upstreams: []string{addr}}
		targets[c] = check.Target{Upstreams: []string{addr}, Spec: check.HTTPSpec{Path: "/healthz", Status: 200,
			Interval: time.Hour, Timeout: time.Second, HealthyThreshold: 1, UnhealthyThreshold: 1}}
	}
	store, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "state.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	state, err := controller.Bootstrap(ctx, store, bluegreen.Blue, specs, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	rt, err := router.New(router.Options{}, state.Live, upstreams)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(rt.Close)
	var ctl *controller.Controller
	mon := check.NewMonitor(targets, func(c bluegreen.Color, h bluegreen.Health) { ctl.RecordHealth(c, h) }, nil)
	var used bluegreen.Store = store
	for _, w := range wrap {
		used = w(store, rt)
	}
	o := controller.Options{Store: used, Router: routerAdapter{rt}, Health: verifySpy{mon, e}, DrainTimeout: time.Second}
	if opts != nil {
		opts(&o)
	}
	ctl = controller.New(o, state)
	e.ctl, e.store, e.rt = ctl, store, rt
	return e
}

func (e *env) history(t *testing.T, action bluegreen.Action) []bluegreen.Event {
	t.Helper()
	evs, err := e.store.History(context.Background(), bluegreen.HistoryFilter{Action: action})
	if err != nil {
		t.Fatal(err)
	}
	return evs
}

func TestSwitchCommitsThenSwaps(t *testing.T) {
	e := newEnv(t)
	res, err := e.ctl.Switch(context.Background(), bluegreen.SwitchRequest{To: bluegreen.Green, Actor: "alice", Reason: "r1"})
	if err != nil {
		t.Fatal(err)
	}
	st, _ := e.store.Load(context.Background())
	if !res.Changed || res.From != bluegreen.Blue || st.Live != bluegreen.Green || st.Previous != bluegreen.Blue || e.rt.Live() != bluegreen.Green {
		t.Fatalf("result %+v, stored live %s previous %s, router %s", res, st.Live, st.Previous, e.rt.Live())
	}
	if res.Revision != st.Revision {
		t.Fatalf("result revision %d, stored %d", res.Revision, st.Revision)
	}
	sw := e.history(t, bluegreen.ActionSwitch)
	if len(sw) != 1 || sw[0].Actor != "alice" || sw[0].Details["reason"] != "r1" || sw[0].Revision != st.Revision {
		t.Fatalf("switch events %+v", sw)
	}
	if d := e.history(t, bluegreen.ActionDrain); len(d) != 1 || d[0].Color != bluegreen.Blue {
		t.Fatalf("drain events %+v", d)
	}

	// Already live: nothing happens, nothing is recorded.
	res, err = e.ctl.Switch(context.Background(), bluegreen.SwitchRequest{To: bluegreen.Green})
	if err != nil || res.Changed {
		t.Fatalf("switch to the live color: %+v %v", res, err)
	}
	if n := len(e.history(t, bluegreen.ActionSwitch)); n != 1 {
		t.Fatalf("a no-op switch recorded an event (%d switch events)", n)
	}
}

// syncSpy is the SQLite store, noting the router's live color when a
// switch's commit became visible and when it was flushed to disk.
type syncSpy struct {
	*sqlite.Store
	rt    *router.Router
	mu    sync.Mutex
	steps []string
}

func (s *syncSpy) note(step string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.steps = append(s.steps, fmt.Sprintf("%s, router on %s", step, s.rt.Live()))
}

func (s *syncSpy) CommitVisible(ctx context.Context, next bluegreen.State, events ...bluegreen.Event) (bluegreen.State, func() error, error) {
	st, sync, err := s.Store.CommitVisible(ctx, next, events...)
	if err != nil {
		return st, nil, err
	}
	s.note("visible")
	return st, func() error { s.note("sync"); return sync() }, nil
}

// TestSwitchSwapsBeforeTheFlushAndReportsAfter: the router flips once the
// commit is visible (and would survive a kill), and the switch is reported
// only after the commit is on disk.
func TestSwitchSwapsBeforeTheFlushAndReportsAfter(t *testing.T) {
	var spy *syncSpy
	e := newEnv(t, func(st *sqlite.Store, rt *router.Router) bluegreen.Store {
		spy = &syncSpy{Store: st, rt: rt}
		return spy
	})
	res, err := e.ctl.Switch(context.Background(), bluegreen.SwitchRequest{To: bluegreen.Green, Actor: "alice"})
	if err != nil {
		t.Fatal(err)
	}
	spy.mu.Lock()
	steps := strings.Join(spy.steps, "; ")
	spy.mu.Unlock()
	if want := "visible, router on blue; sync, router on green"; steps != want {
		t.Fatalf("steps before Switch returned: %q, want %q", steps, want)
	}
	if res.SyncMS <= 0 || !res.Changed {
		t.Fatalf("result %+v: want a changed switch with its sync time", res)
	}
	if sw := e.history(t, bluegreen.ActionSwitch); len(sw) != 1 || sw[0].Actor != "alice" || sw[0].Revision != res.Revision {
		t.Fatalf("switch events %+v", sw)
	}
}

// TestSwitchIsRaisedUntilTheSwap: Options.Raise is called once per switch,
// the fresh health round runs under its context, and the undo comes once
// the router has swapped, or before a refusal is returned.
func TestSwitchIsRaisedUntilTheSwap(t *testing.T) {
	type raisedKey struct{}
	var (
		mu      sync.Mutex
		raises  int
		lowered []string // the router's color and the drains recorded at each undo
		e       *env
	)
	raise := func(ctx context.Context) (context.Context, func()) {
		mu.Lock()
		raises++
		mu.Unlock()
		return context.WithValue(ctx, raisedKey{}, true), sync.OnceFunc(func() {
			// Before the drain: no drain recorded yet for this switch.
			drains, err := e.store.History(context.Background(), bluegreen.HistoryFilter{Action: bluegreen.ActionDrain})
			mu.Lock()
			lowered = append(lowered, fmt.Sprintf("%s after %d drains (%v)", e.rt.Live(), len(drains), err))
			mu.Unlock()
		})
	}
	e = newEnvWith(t, nil, func(o *controller.Options) { o.Raise = raise })
	if _, err := e.ctl.Switch(context.Background(), bluegreen.SwitchRequest{To: bluegreen.Green}); err != nil {
		t.Fatal(err)
	}
	if ctx := e.verified.Load(); ctx == nil || (*ctx).Value(raisedKey{}) != true {
		t.Error("the switch's health round did not run under the raised context")
	}
	mu.Lock()
	if want := "green after 0 drains (<nil>)"; raises != 1 || len(lowered) != 1 || lowered[0] != want {
		t.Errorf("after a switch: %d raises, undone %q; want 1, [%s]", raises, lowered, want)
	}
	mu.Unlock()

	e.status[bluegreen.Blue].Store(503)
	if _, err := e.ctl.Switch(context.Background(), bluegreen.SwitchRequest{To: bluegreen.Blue}); bluegreen.ErrorCode(err) != bluegreen.EREFUSED {
		t.Fatalf("switch to an unhealthy color: %v, want refused", err)
	}
	mu.Lock()
	if want := "green after 1 drains (<nil>)"; raises != 2 || len(lowered) != 2 || lowered[1] != want {
		t.Errorf("after a refused switch: %d raises, undone %q; want 2, the second %s", raises, lowered, want)
	}
	mu.Unlock()
}

// threadNice is the calling thread's nice value (99 when it cannot be
// read); it means something only on a goroutine pinned to its thread.
// threadLevel is the calling thread's scheduling level, as a string.
func threadLevel() string {
	l, err := sched.Current()
	if err != nil {
		return err.Error()
	}
	return l.String()
}

// levelSpy notes the thread's scheduling level at each visible commit.
type levelSpy struct {
	*sqlite.Store
	level *atomic.Value
}

func (s levelSpy) CommitVisible(ctx context.Context, next bluegreen.State, events ...bluegreen.Event) (bluegreen.State, func() error, error) {
	s.level.Store(threadLevel())
	return s.Store.CommitVisible(ctx, next, events...)
}

// TestPreSwitchHookRunsAtNormalPriority: with serve's real Raise, the
// switch's health round and commit run raised, but a pre_switch hook's
// process, which would inherit the priority of the thread that starts it,
// does not.
func TestPreSwitchHookRunsAtNormalPriority(t *testing.T) {
	want, err := sched.Ability()
	if err != nil {
		t.Skipf("this process may not raise a thread's priority: %v", err)
	}
	out := filepath.Join(t.TempDir(), "nice")
	var commitLevel atomic.Value
	commitLevel.Store("none")
	spy := func(st *sqlite.Store, _ *router.Router) bluegreen.Store {
		return levelSpy{st, &commitLevel}
	}
	var e *env
	e = newEnvWith(t, []func(*sqlite.Store, *router.Router) bluegreen.Store{spy}, func(o *controller.Options) {
		o.Raise = sched.Raise
		o.Deploy = &controller.DeployConfig{
			// Fields 19 and 41 of /proc/PID/stat are the nice value
			// and the scheduling policy (0: normal).
			PreSwitch: "cut -d' ' -f19,41 /proc/self/stat > " + out,
			HookDir:   t.TempDir(),
			Run: func(ctx context.Context, dir, command string, env []string, onLine func(string)) (int, []string, error) {
				res, err := runner.Run(ctx, runner.Cmd{Command: command, Dir: dir, Env: env}, onLine)
				return res.ExitCode, res.Tail, err
			},
		}
	})
	var roundLevel atomic.Value
	roundLevel.Store("none")
	e.onVerify = func() { roundLevel.Store(threadLevel()) }
	if _, err := e.ctl.Switch(context.Background(), bluegreen.SwitchRequest{To: bluegreen.Green}); err != nil {
		t.Fatal(err)
	}
	if l := roundLevel.Load(); l != want.String() {
		t.Errorf("during the health round the thread ran at %s, want %s", l, want)
	}
	if l := commitLevel.Load(); l != want.String() {
		t.Errorf("during the commit, after the hook, the thread ran at %s, want %s", l, want)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatalf("the hook did not run: %v", err)
	}
	if got := strings.TrimSpace(string(b)); got != "0 0" {
		t.Errorf("the pre_switch hook ran at nice and policy %q, want \"0 0\" (normal)", got)
	}
}

func TestRefuseUnhealthyThenForce(t *testing.T) {
	e := newEnv(t)
	e.status[bluegreen.Green].Store(503)
	_, err := e.ctl.Switch(context.Background(), bluegreen.SwitchRequest{To: bluegreen.Green, Actor: "bob"})
	if bluegreen.ErrorCode(err) != bluegreen.EREFUSED || !strings.Contains(err.Error(), "status 503, want 200") {
		t.Fatalf("switch to an unhealthy color: %v", err)
	}
	st, _ := e.store.Load(context.Background())
	if st.Live != bluegreen.Blue || e.rt.Live() != bluegreen.Blue {
		t.Fatalf("a refused switch changed something: stored %s router %s", st.Live, e.rt.Live())
	}
	if sw := e.history(t, bluegreen.ActionSwitch); len(sw) != 1 || sw[0].Outcome != bluegreen.OutcomeRefused || sw[0].Actor != "bob" {
		t.Fatalf("refusal not recorded: %+v", sw)
	}

	res, err := e.ctl.Switch(context.Background(), bluegreen.SwitchRequest{To: bluegreen.Green, Force: true, Actor: "bob"})
	if err != nil || !res.Forced || e.rt.Live() != bluegreen.Green {
		t.Fatalf("forced switch: %+v %v, router %s", res, err, e.rt.Live())
	}
	if sw := e.history(t, bluegreen.ActionSwitch); sw[0].Details["forced"] != true {
		t.Fatalf("forced switch not recorded as forced: %+v", sw[0])
	}

	// --force on a healthy color forces nothing, but is recorded all the same.
	res, err = e.ctl.Switch(context.Background(), bluegreen.SwitchRequest{To: bluegreen.Blue, Force: true, Actor: "bob"})
	if err != nil || res.Forced || e.rt.Live() != bluegreen.Blue {
		t.Fatalf("--force to a healthy color: %+v %v, router %s", res, err, e.rt.Live())
	}
	if sw := e.history(t, bluegreen.ActionSwitch); sw[0].Details["force_requested"] != true || sw[0].Details["forced"] != nil ||
		!strings.Contains(sw[0].Message, "--force given by bob; nothing needed forcing") {
		t.Fatalf("an unneeded --force not recorded: %+v", sw[0])
	}
}

func TestRollback(t *testing.T) {
	e := newEnv(t)
	_, err := e.ctl.Rollback(context.Background(), bluegreen.SwitchRequest{Actor: "carol"})
	if bluegreen.ErrorCode(err) != bluegreen.EREFUSED {
		t.Fatalf("rollback before any switch: %v, want refused", err)
	}
	if _, err := e.ctl.Switch(context.Background(), bluegreen.SwitchRequest{To: bluegreen.Green}); err != nil {
		t.Fatal(err)
	}
	res, err := e.ctl.Rollback(context.Background(), bluegreen.SwitchRequest{Actor: "carol"})
	if err != nil || !res.Rollback || res.To != bluegreen.Blue || e.rt.Live() != bluegreen.Blue {
		t.Fatalf("rollback: %+v %v router %s", res, err, e.rt.Live())
	}
	// The refused one, then the one that went.
	if rb := e.history(t, bluegreen.ActionRollback); len(rb) != 2 || rb[0].Actor != "carol" || rb[0].Color != bluegreen.Blue ||
		rb[0].Outcome != bluegreen.OutcomeOK || rb[1].Outcome != bluegreen.OutcomeRefused {
		t.Fatalf("rollback events %+v", rb)
	}
}

func TestFailedCommitLeavesRouterAlone(t *testing.T) {
	e := newEnv(t)
	e.store.Close()
	_, err := e.ctl.Switch(context.Background(), bluegreen.SwitchRequest{To: bluegreen.Green})
	if err == nil || !strings.Contains(err.Error(), "nothing changed") {
		t.Fatalf("switch with a closed store: %v", err)
	}
	if e.rt.Live() != bluegreen.Blue || e.ctl.Live() != bluegreen.Blue {
		t.Fatalf("router %s controller %s after a failed commit, want blue", e.rt.Live(), e.ctl.Live())
	}
}

func TestBootstrapKeepsLiveAndRecordsConfigChanges(t *testing.T) {
	ctx := context.Background()
	store, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "state.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	specs := map[bluegreen.Color]controller.ColorSpec{
		bluegreen.Blue:  {Branch: "production", Upstreams: []string{"127.0.0.1:1"}},
		bluegreen.Green: {Branch: "green", Upstreams: []string{"127.0.0.1:2"}},
	}
	st, err := controller.Bootstrap(ctx, store, bluegreen.Green, specs, time.Now())
	if err != nil || st.Live != bluegreen.Green || st.Revision != 1 {
		t.Fatalf("fresh bootstrap: %+v %v", st, err)
	}
	// Same config again: no new revision.
	if st2, err := controller.Bootstrap(ctx, store, bluegreen.Blue, specs, time.Now()); err != nil || st2.Revision != 1 || st2.Live != bluegreen.Green {
		t.Fatalf("unchanged bootstrap: %+v %v", st2, err)
	}
	// The team renames production to blue.
	specs[bluegreen.Blue] = controller.ColorSpec{Branch: "blue", Upstreams: []string{"127.0.0.1:1"}}
	st3, err := controller.Bootstrap(ctx, store, bluegreen.Blue, specs, time.Now())
	if err != nil || st3.Revision != 2 || st3.Live != bluegreen.Green || st3.Colors[bluegreen.Blue].Branch != "blue" {
		t.Fatalf("bootstrap after a rename: %+v %v", st3, err)
	}
	evs, _ := store.History(ctx, bluegreen.HistoryFilter{Action: bluegreen.ActionConfig})
	if len(evs) != 1 || !strings.Contains(evs[0].Message, `"production" → "blue"`) {
		t.Fatalf("config events %+v", evs)
	}
}
