package check

import (
	"context"
	"log/slog"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/bluegreen/bluegreen"
	"github.com/bluegreen/bluegreen/internal/sched"
)

// Target is what the Monitor checks for one color.
type Target struct {
	// Upstreams are the host:port addresses probed each round.
	Upstreams []string
	// Hosts, when not nil, names each upstream (same length and order): the
	// color lists hosts, and its verdict then carries each host's last probe
	// (bluegreen.Health.Hosts). Nil for plain upstreams.
	Hosts []string
	// Spec is how each upstream is probed and the verdict's thresholds.
	Spec HTTPSpec
	// MinPass, when above 0, is how many upstreams must pass for a round to
	// pass (a color of hosts with min_healthy: the router skips a host
	// that refuses connections); 0 means every one.
	MinPass int
}

// Monitor health-checks both colors in the background and keeps a verdict per
// color with hysteresis: a color becomes healthy after HealthyThreshold
// consecutive passing rounds and unhealthy after UnhealthyThreshold failing
// ones. A round passes when every upstream of the color passes (or
// Target.MinPass of them). For a
// color whose Target names its hosts, the verdict also holds each host's
// result of the last round (bluegreen.Health.Hosts), whatever the status.
//
// A Monitor is safe for concurrent use. Run owns its goroutines and returns
// when its context ends.
type Monitor struct {
	probes   prober
	logger   *slog.Logger
	onChange func(bluegreen.Color, bluegreen.Health)
	now      func() time.Time

	mu     sync.Mutex
	colors map[bluegreen.Color]*colorState
}

type colorState struct {
	// checking serialises rounds of one color (the loop and Verify), so
	// verdicts are folded and reported in order.
	checking    sync.Mutex
	target      Target
	health      bluegreen.Health
	passes      int
	fails       int
	reconfigure chan struct{}
}

// NewMonitor returns a Monitor for the given targets. onChange, if not nil, is
// called each time a color's verdict changes, never concurrently for one
// color and in the order of the changes. It runs on the goroutine of the
// round that caused the change: the Monitor's own, or a caller of Check or
// Verify, so a caller of those must not hold a lock that onChange takes.
// A nil logger discards.
func NewMonitor(targets map[bluegreen.Color]Target, onChange func(bluegreen.Color, bluegreen.Health), logger *slog.Logger) *Monitor {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	m := &Monitor{
		probes:   prober{dialer: net.Dialer{Timeout: 2 * time.Second}, now: time.Now},
		logger:   logger.With("component", "health"),
		onChange: onChange,
		now:      time.Now,
		colors:   make(map[bluegreen.Color]*colorState),
	}
	for c, t := range targets {
		m.colors[c] = &colorState{
			target:      t,
			health:      bluegreen.Health{Status: bluegreen.HealthUnknown, Reason: "not checked yet"},
			reconfigure: make(chan struct{}, 1),
		}
	}
	return m
}

// Run checks every color at its interval until ctx ends. Call it once at a
// time: serve stops it for a hand-over and runs it again if the hand-over
// fails.
func (m *Monitor) Run(ctx context.Context) {
	var wg sync.WaitGroup
	m.mu.Lock()
	for c, st := range m.colors {
		wg.Add(1)
		go func() {
			defer wg.Done()
			m.loop(ctx, c, st.reconfigure)
		}()
	}
	m.mu.Unlock()
	wg.Wait()
}

func (m *Monitor) loop(ctx context.Context, c bluegreen.Color, reconfigure <-chan struct{}) {
	for {
		m.Check(ctx, c)
		m.mu.Lock()
		interval := m.colors[c].target.Spec.Interval
		m.mu.Unlock()
		t := time.NewTimer(interval)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-reconfigure:
			t.Stop()
		case <-t.C:
		}
	}
}

// Check runs one round of checks for color c now, folds it into the verdict
// and returns the verdict.
func (m *Monitor) Check(ctx context.Context, c bluegreen.Color) bluegreen.Health {
	h, _ := m.Verify(ctx, c)
	return h
}

// Verify runs one round of checks for color c now, folds it into the
// verdict, and returns the verdict and the round's own result: nil when every
// upstream passed this round. A gate (such as a switch) should use the
// round's result, which is fresh, not the verdict, which has hysteresis.
func (m *Monitor) Verify(ctx context.Context, c bluegreen.Color) (bluegreen.Health, error) {
	m.mu.Lock()
	st, ok := m.colors[c]
	m.mu.Unlock()
	if !ok {
		err := errString("no health check configured for " + string(c))
		return bluegreen.Health{Status: bluegreen.HealthUnknown, Reason: err.Error()}, err
	}
	st.checking.Lock()
	defer st.checking.Unlock()

	m.mu.Lock()
	target := st.target
	m.mu.Unlock()
	results := m.round(ctx, target)
	if ctx.Err() != nil {
		return m.Health(c), ctx.Err()
	}
	err := joined(results)
	if target.MinPass > 0 && passed(results) >= target.MinPass {
		err = nil
	}

	m.mu.Lock()
	old := st.health
	if err == nil {
		st.fails = 0
		st.passes++
		if st.health.Status != bluegreen.HealthHealthy && st.passes >= target.Spec.HealthyThreshold {
			st.health = bluegreen.Health{Status: bluegreen.HealthHealthy, Since: m.now()}
		}
	} else {
		st.passes = 0
		st.fails++
		switch st.health.Status {
		case bluegreen.HealthUnhealthy:
			st.health.Reason = err.Error() // keep Since, refresh the reason
		case bluegreen.HealthHealthy:
			if st.fails >= target.Spec.UnhealthyThreshold {
				st.health = bluegreen.Health{Status: bluegreen.HealthUnhealthy, Reason: err.Error(), Since: m.now()}
			}
		default:
			// Never seen passing: say so at once rather than stay "unknown".
			st.health = bluegreen.Health{Status: bluegreen.HealthUnhealthy, Reason: err.Error(), Since: m.now()}
		}
	}
	st.health.Hosts = hostHealth(target, results)
	h := st.health
	m.mu.Unlock()

	if h.Status != old.Status {
		m.logger.Info("health changed", "color", c, "from", old.Status, "to", h.Status, "reason", h.Reason)
		if m.onChange != nil {
			m.onChange(c, h)
		}
	}
	return h, err
}

// result is one upstream's probe in a round.
type result struct {
	err     error
	checked time.Time
}

// round probes every upstream concurrently and returns each one's result, in
// the order of t.Upstreams.
func (m *Monitor) round(ctx context.Context, t Target) []result {
	results := make([]result, len(t.Upstreams))
	probe := func(ctx context.Context, i int) {
		err := m.probes.probe(ctx, t.Upstreams[i], t.Spec)
		results[i] = result{err, m.now()}
	}
	var wg sync.WaitGroup
	for i := range t.Upstreams {
		if i == 0 {
			continue // below, on the caller's goroutine
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			probe(sched.Without(ctx), i)
		}()
	}
	if len(t.Upstreams) > 0 {
		// A switch waits for this round, and on a busy machine every
		// goroutine hand-off costs a run-queue wait: the first probe (the
		// only one, usually) runs here.
		probe(ctx, 0)
	}
	wg.Wait()
	return results
}

// joined returns the failures of a round joined, or nil when all passed.
func joined(results []result) error {
	var msgs []string
	for _, r := range results {
		if r.err != nil {
			msgs = append(msgs, r.err.Error())
		}
	}
	if len(msgs) == 0 {
		return nil
	}
	return errString(strings.Join(msgs, "; "))
}

// passed counts the results that passed.
func passed(results []result) int {
	n := 0
	for _, r := range results {
		if r.err == nil {
			n++
		}
	}
	return n
}

// hostHealth returns the per-host part of a verdict: nil unless t names its
// hosts.
func hostHealth(t Target, results []result) []bluegreen.HostHealth {
	if len(t.Hosts) == 0 || len(t.Hosts) != len(t.Upstreams) {
		return nil
	}
	out := make([]bluegreen.HostHealth, len(results))
	for i, r := range results {
		out[i] = bluegreen.HostHealth{Name: t.Hosts[i], Address: t.Upstreams[i], Healthy: r.err == nil, Checked: r.checked}
		if r.err != nil {
			out[i].Reason = r.err.Error()
		}
	}
	return out
}

type errString string

func (e errString) Error() string { return string(e) }

// Health returns the current verdict for color c.
func (m *Monitor) Health(c bluegreen.Color) bluegreen.Health {
	m.mu.Lock()
	defer m.mu.Unlock()
	st, ok := m.colors[c]
	if !ok {
		return bluegreen.Health{Status: bluegreen.HealthUnknown, Reason: "no health check configured"}
	}
	return st.health
}

// SetTarget replaces color c's upstreams and spec; the verdict restarts from
// unknown and the color is checked again at once. Only colors given to
// NewMonitor can be set; others are ignored.
func (m *Monitor) SetTarget(c bluegreen.Color, t Target) {
	m.mu.Lock()
	st, ok := m.colors[c]
	if !ok {
		m.mu.Unlock()
		return
	}
	st.target = t
	st.passes, st.fails = 0, 0
	st.health = bluegreen.Health{Status: bluegreen.HealthUnknown, Reason: "upstreams changed; not checked yet"}
	inUse := map[string]bool{}
	for _, cs := range m.colors {
		for _, u := range cs.target.Upstreams {
			inUse[u] = true
		}
	}
	m.mu.Unlock()
	m.probes.forget(inUse)
	select {
	case st.reconfigure <- struct{}{}:
	default:
	}
}
