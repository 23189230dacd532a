// Package controller carries out operations on the committed state: it
// decides whether a switch or rollback is safe, commits it to the store, then
// tells the router, and records every step in the history.
//
// Invariant: the store is written before the router acts. A crash between the
// two is harmless because the router serves the committed live color when it
// starts.
package controller

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/bluegreen/bluegreen"
)

// Router is the data plane as the controller sees it; *router.Router
// satisfies it.
type Router interface {
	// Swap makes to the live color at once and returns a handle to wait for
	// the old color's in-flight requests.
	Swap(to bluegreen.Color) Drainer
	// Traffic returns per-color figures.
	Traffic() map[bluegreen.Color]bluegreen.TrafficStats
}

// Drainer waits for the requests that were in flight on the old color (the
// domain's: the router's Swap returns it).
type Drainer = bluegreen.Drainer

// HealthChecker gives a color's health verdict.
type HealthChecker interface {
	// Health returns the current verdict without checking.
	Health(c bluegreen.Color) bluegreen.Health
	// Verify runs a round of checks now and returns the resulting verdict
	// and the round's own result (nil when it passed). It may report a
	// verdict change to RecordHealth on the calling goroutine, so the
	// controller never calls it while holding mu.
	Verify(ctx context.Context, c bluegreen.Color) (bluegreen.Health, error)
}

// Options configures a Controller.
type Options struct {
	// Store, Router and Health are required.
	Store  bluegreen.Store
	Router Router
	Health HealthChecker
	// DrainTimeout bounds the wait for the old color's in-flight requests
	// after a switch; <= 0 means 30s.
	DrainTimeout time.Duration
	// Logger receives the controller's logs; nil discards.
	Logger *slog.Logger
	// Now returns the current time; nil means time.Now.
	Now func() time.Time
	// Deploy enables deployments; nil means the configuration has none.
	Deploy *DeployConfig
	// Instance names this controller process in the locks it takes; empty
	// means a random one. Two controllers sharing a store need distinct ones.
	Instance string
	// Verifier runs the configured checks; nil means verification is the
	// health check alone.
	Verifier Verifier
	// Gates says what a switch needs besides a healthy color.
	Gates GateConfig
	// Watch configures the post-switch watch; nil means no watch.
	Watch *WatchConfig
	// Meter measures the router's per-color traffic for the watch; required
	// with Watch.
	Meter Meter
	// DNS, when not nil, moves a DNS record with every switch and rollback
	// (switch mode dns or both), before the state records the new color.
	DNS DNSSwitcher
	// PreviewURL is where people reach the preview listener; Status
	// reports it.
	PreviewURL string
	// Notify receives the events worth telling people about (deploys,
	// verifications, switches, rollbacks, watch results), after they are
	// recorded. It must not block; nil means nobody is told.
	Notify func(bluegreen.Event)
	// Raise, when not nil, is called on the goroutine that runs a switch
	// or rollback once it holds the operation lock, and may raise the
	// scheduling priority of that goroutine's thread (sched.Raise does).
	// It returns the context for the switch's health round and a function
	// that undoes it, which the controller calls on the same goroutine
	// once the router has swapped or the switch ends early. Around a
	// pre_switch hook or a DNS update it undoes it first and calls Raise
	// again after them, so that neither runs raised.
	Raise func(context.Context) (context.Context, func())
	// Cluster, when not nil, is the set of serve instances sharing the
	// store (etcd): a switch waits for their routers to take the new color
	// and Status lists them. nil for a store this instance has alone.
	Cluster Cluster
	// Fence, when not nil, is applied to the context of the controller's
	// own work that no call started (the post-switch watch and its
	// rollback, health verdicts): with several instances it makes those
	// commits fail once this instance no longer leads. Calls pass their
	// own context, which the caller fences.
	Fence func(context.Context) context.Context
	// StoreStatus, when not nil, says which store the state is in and
	// whether it can be reached, for Status.
	StoreStatus func() bluegreen.StoreStatus
	// RefusalWindow is how long identical refusals (same token, action,
	// color and message) are counted after the first is recorded, before
	// one event records how many there were; <= 0 means a minute.
	RefusalWindow time.Duration
}

// Cluster is what the controller needs of the serve instances that share
// its store; the daemon's cluster membership satisfies it.
type Cluster interface {
	// WaitAcks waits until every live instance's router serves the state
	// revision rev or a later one, or until a deadline of its own, and
	// says who did and who did not. An error means the instances could
	// not be read at all (the store unreachable); the acks are then
	// those read last, if any.
	WaitAcks(ctx context.Context, rev int64) (bluegreen.RouterAcks, error)
	// Instances lists the live instances, sorted by ID.
	Instances(ctx context.Context) ([]bluegreen.Instance, error)
}

// Counters are the controller's operation counts since it started.
type Counters struct {
	Switches            int64
	RollbacksManual     int64
	RollbacksAutomatic  int64
	DeploymentsOK       int64
	DeploymentsFailed   int64
	VerificationsPassed int64
	VerificationsFailed int64
}

// Controller runs switches and rollbacks. Operations that change the state
// are serialised; reads are not blocked by a drain in progress. A Controller
// is safe for concurrent use.
type Controller struct {
	store     bluegreen.Store
	router    Router
	health    HealthChecker
	drain     time.Duration
	logger    *slog.Logger
	now       func() time.Time
	instance  string
	deployCfg *DeployConfig
	logs      progressLogs
	verifier  Verifier
	gateCfg   GateConfig
	watchCfg  *WatchConfig
	meter     Meter
	notifyFn  func(bluegreen.Event)
	dns       DNSSwitcher
	preview   string
	raise     func(context.Context) (context.Context, func())
	refusals  *refusalLog
	cluster   Cluster
	storeFn   func() bluegreen.StoreStatus
	fence     func(context.Context) context.Context
	fleet     *fleet

	countMu  sync.Mutex
	counters Counters

	// watchMu guards the watch in progress.
	watchMu sync.Mutex
	watch   *watchRun

	// op serialises operations (switch, rollback) from their health check to
	// the router swap. It is taken before mu, never after.
	op sync.Mutex
	// mu guards state; it is held only for short, non-blocking sections
	// (and store commits), never across a health check or a drain.
	mu    sync.Mutex
	state bluegreen.State
}

// New returns a Controller that starts from state, which must be the state
// committed in o.Store (as returned by Bootstrap).
func New(o Options, state bluegreen.State) *Controller {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.DrainTimeout <= 0 {
		o.DrainTimeout = 30 * time.Second
	}
	if o.Instance == "" {
		o.Instance = newInstanceID()
	}
	if o.Fence == nil {
		o.Fence = func(ctx context.Context) context.Context { return ctx }
	}
	if o.Raise == nil {
		o.Raise = func(ctx context.Context) (context.Context, func()) { return ctx, func() {} }
	}
	refusals := newRefusalLog(o.Store, o.RefusalWindow, o.Now, o.Logger.With("component", "controller"))
	return &Controller{
		instance:  o.Instance,
		deployCfg: o.Deploy,
		fleet:     newFleet(),
		store:     callerStore{refusals},
		refusals:  refusals,
		router:    o.Router,
		health:    o.Health,
		drain:     o.DrainTimeout,
		logger:    o.Logger.With("component", "controller"),
		now:       o.Now,
		state:     state,
		verifier:  o.Verifier,
		gateCfg:   o.Gates,
		watchCfg:  o.Watch,
		meter:     o.Meter,
		notifyFn:  o.Notify,
		dns:       o.DNS,
		preview:   o.PreviewURL,
		raise:     o.Raise,
		cluster:   o.Cluster,
		storeFn:   o.StoreStatus,
		fence:     o.Fence,
	}
}

// Record appends an event made outside the controller (the API's own:
// tokens, calls refused for their role) to the history, with the caller's
// stamp when ctx carries one, and with repeated identical refusals
// collapsed as the controller's own are (see Options.RefusalWindow).
// Failures are logged.
func (c *Controller) Record(ctx context.Context, ev bluegreen.Event) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if err := c.store.Append(ctx, ev); err != nil {
		c.logger.Error("recording an event", "action", ev.Action, "err", err)
	}
}

// Close records the refusals counted and not yet recorded (see
// Options.RefusalWindow); refusals after it are recorded one by one. It
// does not close the store. Call it before closing the store.
func (c *Controller) Close() {
	c.refusals.closeWindows()
}

// Counters returns the operation counts since the controller started.
func (c *Controller) Counters() Counters {
	c.countMu.Lock()
	defer c.countMu.Unlock()
	return c.counters
}

func (c *Controller) count(f func(*Counters)) {
	c.countMu.Lock()
	f(&c.counters)
	c.countMu.Unlock()
}

// notify hands ev to the Notify option, if any.
func (c *Controller) notify(ev bluegreen.Event) {
	if c.notifyFn != nil {
		c.notifyFn(ev)
	}
}

// State returns the committed state as the controller last saw it.
func (c *Controller) State() bluegreen.State {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.state.Clone()
}

// Live returns the committed live color.
func (c *Controller) Live() bluegreen.Color {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.state.Live
}

// Status returns the committed state, with each color's health replaced by
// the health checker's current verdict, and the router's traffic figures.
func (c *Controller) Status(ctx context.Context) (bluegreen.Status, error) {
	st := c.State()
	for _, col := range bluegreen.Colors {
		cs := st.Colors[col]
		cs.Health = c.withAgents(c.health.Health(col))
		st.Colors[col] = cs
	}
	if st.Watch != nil {
		st.Watch.Figures = c.watchFigures()
	}
	var dns []bluegreen.DNSAnswer
	name := ""
	if c.dns != nil {
		actx, cancel := context.WithTimeout(ctx, 3*time.Second)
		dns, name = c.dns.Answers(actx), c.dns.Name()
		cancel()
	}
	status := bluegreen.Status{State: st, Traffic: c.router.Traffic(), Now: c.now().UTC(), DNS: dns, DNSRecord: name,
		PreviewURL: c.preview}
	if c.storeFn != nil {
		s := c.storeFn()
		status.Store = &s
	}
	if c.cluster != nil {
		ictx, cancel := context.WithTimeout(ctx, 3*time.Second)
		ins, err := c.cluster.Instances(ictx)
		cancel()
		if err != nil {
			// Status answers from what this instance knows even when the
			// store cannot be reached: it says so in Store.
			c.logger.Warn("listing the instances for status", "err", err)
		}
		status.Instances = ins
	}
	return status, nil
}

// History returns events from the store, newest first.
func (c *Controller) History(ctx context.Context, f bluegreen.HistoryFilter) ([]bluegreen.Event, error) {
	return c.store.History(ctx, f)
}

// RecordHealth stores a color's new health verdict and records the change in
// the history, with outcome failed for an unhealthy verdict and ok otherwise. It is meant as the health checker's change callback; failures
// are logged, not returned, because the verdict is re-derived on every check.
func (c *Controller) RecordHealth(col bluegreen.Color, h bluegreen.Health) {
	ctx, cancel := context.WithTimeout(c.fence(context.Background()), 10*time.Second)
	defer cancel()
	c.mu.Lock()
	defer c.mu.Unlock()
	next := c.state.Clone()
	cs := next.Colors[col]
	cs.Health = h
	next.Colors[col] = cs
	// The outcome is the verdict's: an unhealthy color is a failure in
	// the history, not an "ok" event that happens to say so.
	outcome := bluegreen.OutcomeOK
	if h.Status == bluegreen.HealthUnhealthy {
		outcome = bluegreen.OutcomeFailed
	}
	ev := bluegreen.Event{
		Time: c.now(), Actor: "bluegreen", Action: bluegreen.ActionHealth, Color: col, Outcome: outcome,
		Message: string(col) + " is " + string(h.Status),
	}
	if h.Reason != "" {
		ev.Message += ": " + h.Reason
	}
	committed, err := c.store.Commit(ctx, next, ev)
	if err != nil {
		c.logger.Error("recording health", "color", col, "err", err)
		return
	}
	c.state = committed
}

// newInstanceID returns "host/pid/random": unique per controller process.
func newInstanceID() string {
	host, _ := os.Hostname()
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return fmt.Sprintf("%s/%d/%s", host, os.Getpid(), hex.EncodeToString(b))
}
