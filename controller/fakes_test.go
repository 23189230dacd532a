package controller_test

// In-memory fakes of everything a Controller is given (store, router,
// health checker, verifier, meter, source, app driver, step runner), for
// unit tests that run in milliseconds. The slower tests against SQLite, a
// real router and HTTP upstreams stay in the other files.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bluegreen/bluegreen"
	"github.com/bluegreen/bluegreen/controller"
)

// memStore is a bluegreen.Store in memory: compare-and-swap on the
// revision, IDs and revisions filled in the caller's events, as the SQLite
// store does.
type memStore struct {
	mu     sync.Mutex
	state  bluegreen.State
	events []bluegreen.Event
}

func (s *memStore) Load(context.Context) (bluegreen.State, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.state.Clone(), nil
}

func (s *memStore) Commit(_ context.Context, next bluegreen.State, events ...bluegreen.Event) (bluegreen.State, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if next.Revision != s.state.Revision {
		return bluegreen.State{}, fmt.Errorf("commit at revision %d, stored %d: %w", next.Revision, s.state.Revision, bluegreen.ErrConflict)
	}
	next = next.Clone()
	next.Revision++
	s.state = next
	for i := range events {
		events[i].Revision = next.Revision
	}
	s.append(events)
	return next.Clone(), nil
}

func (s *memStore) Append(_ context.Context, events ...bluegreen.Event) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.append(events)
	return nil
}

// append stores events with their IDs; called with mu held.
func (s *memStore) append(events []bluegreen.Event) {
	for i := range events {
		events[i].ID = int64(len(s.events) + 1)
		s.events = append(s.events, events[i])
	}
}

func (s *memStore) History(_ context.Context, f bluegreen.HistoryFilter) ([]bluegreen.Event, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	limit := f.Limit
	if limit == 0 {
		limit = 100
	}
	var out []bluegreen.Event
	for i := len(s.events) - 1; i >= 0 && len(out) < limit; i-- {
		e := s.events[i]
		if (f.Color == "" || e.Color == f.Color) && (f.Action == "" || e.Action == f.Action) &&
			(f.Actor == "" || e.Actor == f.Actor) && (f.Outcome == "" || e.Outcome == f.Outcome) &&
			(f.BeforeID == 0 || e.ID < f.BeforeID) {
			out = append(out, e)
		}
	}
	return out, nil
}

func (s *memStore) Close() error { return nil }

// all returns every event in append order.
func (s *memStore) all() []bluegreen.Event {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.events)
}

// fakeRouter serves one live color; Swap changes it and drains nothing.
type fakeRouter struct {
	mu    sync.Mutex
	live  bluegreen.Color
	swaps []bluegreen.Color
}

func (r *fakeRouter) Swap(to bluegreen.Color) controller.Drainer {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.live = to
	r.swaps = append(r.swaps, to)
	return drained{}
}

func (r *fakeRouter) Traffic() map[bluegreen.Color]bluegreen.TrafficStats {
	return map[bluegreen.Color]bluegreen.TrafficStats{}
}

func (r *fakeRouter) serving() bluegreen.Color {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.live
}

type drained struct{}

func (drained) Wait(context.Context, time.Duration) bluegreen.DrainReport {
	return bluegreen.DrainReport{}
}

// fakeHealth says a color is healthy unless sick names it; a color with
// hosts lists each of them, healthy.
type fakeHealth struct {
	mu    sync.Mutex
	sick  map[bluegreen.Color]string
	hosts map[bluegreen.Color][]string
}

func (h *fakeHealth) set(c bluegreen.Color, reason string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.sick == nil {
		h.sick = map[bluegreen.Color]string{}
	}
	if reason == "" {
		delete(h.sick, c)
	} else {
		h.sick[c] = reason
	}
}

func (h *fakeHealth) Health(c bluegreen.Color) bluegreen.Health {
	h.mu.Lock()
	defer h.mu.Unlock()
	var hosts []bluegreen.HostHealth
	for _, name := range h.hosts[c] {
		hosts = append(hosts, bluegreen.HostHealth{Name: name, Address: name + ":8000", Healthy: true})
	}
	if r, ok := h.sick[c]; ok {
		return bluegreen.Health{Status: bluegreen.HealthUnhealthy, Reason: r, Hosts: hosts}
	}
	return bluegreen.Health{Status: bluegreen.HealthHealthy, Hosts: hosts}
}

func (h *fakeHealth) Verify(_ context.Context, c bluegreen.Color) (bluegreen.Health, error) {
	v := h.Health(c)
	if v.Status != bluegreen.HealthHealthy {
		return v, errors.New(v.Reason)
	}
	return v, nil
}

// fakeVerifier runs one check per color, which fails while failing names
// the color.
type fakeVerifier struct {
	mu      sync.Mutex
	failing map[bluegreen.Color]bool
}

func (v *fakeVerifier) fail(c bluegreen.Color, fails bool) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.failing == nil {
		v.failing = map[bluegreen.Color]bool{}
	}
	v.failing[c] = fails
}

func (v *fakeVerifier) RunChecks(_ context.Context, c bluegreen.Color, live bool, dir string, onResult func(bluegreen.CheckResult)) ([]bluegreen.CheckResult, string) {
	v.mu.Lock()
	fails := v.failing[c]
	v.mu.Unlock()
	r := bluegreen.CheckResult{Name: "home", Kind: "http", OK: !fails, Attempts: 1}
	if fails {
		r.Error = "status 500, want 200"
	}
	if onResult != nil {
		onResult(r)
	}
	return []bluegreen.CheckResult{r}, "http://preview.test"
}

// fakeMeter reports the same figures for every measurement.
type fakeMeter struct{ figures bluegreen.WatchFigures }

func (m fakeMeter) Start(bluegreen.Color) func() bluegreen.WatchFigures {
	return func() bluegreen.WatchFigures { return m.figures }
}

// fakeSource resolves ref to the commit "sha-<ref>"; the ref "gone" does
// not exist.
type fakeSource struct{}

func (fakeSource) Fetch(_ context.Context, ref string) (controller.Commit, error) {
	if ref == "gone" {
		return controller.Commit{}, fmt.Errorf("ref %q not found", ref)
	}
	return controller.Commit{SHA: "sha-" + ref, Ref: ref, Subject: "subject of " + ref, Author: "ada"}, nil
}

func (fakeSource) Checkout(context.Context, string, string) error { return nil }

// Archive writes "archive of <sha>" in place of a tar.
func (fakeSource) Archive(_ context.Context, sha string, w io.Writer) error {
	_, err := io.WriteString(w, "archive of "+sha)
	return err
}

// fakeDriver records what it was asked to start and stop.
type fakeDriver struct {
	mu    sync.Mutex
	calls []string
}

func (d *fakeDriver) Start(_ context.Context, c bluegreen.Color, release, dir string, _ []string) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.calls = append(d.calls, fmt.Sprintf("start %s %s", c, dir))
	return nil
}

func (d *fakeDriver) Stop(_ context.Context, c bluegreen.Color) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.calls = append(d.calls, "stop "+string(c))
	return nil
}

func (d *fakeDriver) log() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return slices.Clone(d.calls)
}

// runSteps is a StepRunner: a command starting with "fail" exits 1 with
// two lines of output; any other succeeds with one.
func runSteps(_ context.Context, dir, command string, env []string, onLine func(string)) (int, []string, error) {
	if strings.HasPrefix(command, "fail") {
		tail := []string{"migrating...", "error: table exists"}
		for _, l := range tail {
			if onLine != nil {
				onLine(l)
			}
		}
		return 1, tail, errors.New("exit status 1")
	}
	if onLine != nil {
		onLine("ok: " + command)
	}
	return 0, []string{"ok: " + command}, nil
}

// fast is a Controller over fakes only: blue is live, green inactive.
type fast struct {
	ctl      *controller.Controller
	store    *memStore
	router   *fakeRouter
	health   *fakeHealth
	verifier *fakeVerifier
	driver   *fakeDriver

	mu       sync.Mutex
	notified []bluegreen.Event
}

// newFast builds a fast controller; opts, when not nil, changes the
// options first (o.Deploy is set: a deploying bluegreen).
func newFast(t *testing.T, opts func(*controller.Options)) *fast {
	t.Helper()
	f := &fast{store: &memStore{}, router: &fakeRouter{live: bluegreen.Blue}, health: &fakeHealth{},
		verifier: &fakeVerifier{}, driver: &fakeDriver{}}
	specs := map[bluegreen.Color]controller.ColorSpec{
		bluegreen.Blue:  {Branch: "main", Upstreams: []string{"127.0.0.1:9001"}},
		bluegreen.Green: {Branch: "main", Upstreams: []string{"127.0.0.1:9002"}},
	}
	st, err := controller.Bootstrap(t.Context(), f.store, bluegreen.Blue, specs, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	o := controller.Options{Store: f.store, Router: f.router, Health: f.health, Verifier: f.verifier,
		Instance: "test", Notify: func(ev bluegreen.Event) {
			f.mu.Lock()
			f.notified = append(f.notified, ev)
			f.mu.Unlock()
		},
		Deploy: &controller.DeployConfig{
			Source: fakeSource{}, Driver: f.driver, Run: runSteps,
			ValidateRef: func(ref string) error {
				if strings.HasPrefix(ref, "-") {
					return bluegreen.Errorf(bluegreen.EINVALID, "ref %q: must not start with '-'", ref)
				}
				return nil
			},
			ReleaseDir: func(c bluegreen.Color, _ time.Time, sha string) (string, error) {
				return "/releases/" + string(c) + "/" + sha, nil
			},
			StartTimeout: time.Second,
		},
	}
	if opts != nil {
		opts(&o)
	}
	f.ctl = controller.New(o, st)
	t.Cleanup(f.ctl.Close)
	return f
}

// events returns the recorded events of action as "outcome: message",
// oldest first.
func (f *fast) events(action bluegreen.Action) []string {
	var out []string
	for _, e := range f.store.all() {
		if e.Action == action {
			out = append(out, string(e.Outcome)+": "+e.Message)
		}
	}
	return out
}

// notifiedActions returns the actions Notify heard of, in order.
func (f *fast) notifiedActions() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for _, e := range f.notified {
		out = append(out, string(e.Action)+" "+string(e.Outcome))
	}
	return out
}
