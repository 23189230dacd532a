package daemon

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bluegreen/bluegreen"
	"github.com/bluegreen/bluegreen/check"
	"github.com/bluegreen/bluegreen/cluster"
	"github.com/bluegreen/bluegreen/config"
	"github.com/bluegreen/bluegreen/controller"
	"github.com/bluegreen/bluegreen/router"
	"github.com/bluegreen/bluegreen/store/etcd"
)

// This file is a serve's part among the serve instances that share one
// etcd state: every instance's router takes the committed live color as
// it is committed, one instance (elected) runs the controller, and the
// others pass it the calls that change the state.

// heartbeatEvery is how often an instance rewrites its record, and so how
// precisely status says since when the store is unreachable.
const heartbeatEvery = time.Second

// retryEvery is how long an instance waits before campaigning or renewing
// its lease again after etcd failed it.
const retryEvery = time.Second

// member is this serve's membership. Its methods are safe for concurrent
// use.
type member struct {
	in        *cluster.Instance
	cfg       config.Cluster
	where     string // the etcd URL, for status and logs
	endpoints string // the etcd endpoints, for errors (as the store names them)
	stateKey  string
	scheme    string // of the instances' APIs
	rt        *router.Router
	drain     time.Duration
	publish   time.Duration // how often the router's figures are published
	logger    *slog.Logger
	ctl       *controller.Controller // set by wire, before Run
	monitor   *check.Monitor         // set by wire, before Run
	store     bluegreen.Store
	adminHash [32]byte // of this instance's admin token, shared with the others
	// recordColors records this instance's configured colors in the state
	// (set by wire; the leader does it as it takes over).
	recordColors func(ctx context.Context) error

	leading atomic.Bool
	held    atomic.Pointer[heldLead] // the leadership last won, for fencing commits
	taken   atomic.Int64             // the state revision the router last took

	mu               sync.Mutex // guards unreachableSince and lastErr
	unreachableSince time.Time
	lastErr          string
}

// heldLead is a leadership won: its election key and that key's create
// revision (see store/etcd.WithFence).
type heldLead struct {
	key string
	rev int64
}

// fence returns ctx fenced by the leadership this instance holds, or last
// won, at the moment of each commit (see store/etcd.WithFence): a commit
// made under it fails once that leadership has ended; before this instance
// first leads, commits are not fenced (a follower's own commits are not
// the controller's). It is the controller's Options.Fence, and the API
// and reloads apply it.
func (m *member) fence(ctx context.Context) context.Context {
	return etcd.WithFence(ctx, func() (string, int64, bool) {
		h := m.held.Load()
		if h == nil {
			return "", 0, false
		}
		return h.key, h.rev, true
	})
}

// joinCluster registers the Daemon among the instances sharing its etcd
// state, as a follower, and shares the hash of its admin token with them.
// It is called once the listeners are bound (the API's address is the
// instance's default address).
func (d *Daemon) joinCluster(ctx context.Context) error {
	cfg := d.cfg
	es, ok := d.store.(*etcd.Store)
	if !ok || cfg.Cluster == nil {
		return nil
	}
	apiAddr := d.lns[2].Addr().(*net.TCPAddr)
	addr := cfg.Cluster.Advertise
	if addr == "" {
		if apiAddr.IP.IsUnspecified() {
			return invalidf("%s: the API listens on every address (%s): set cluster.advertise to the address the other serve instances reach it at", cfg.File, apiAddr)
		}
		addr = apiAddr.String()
	}
	id := cfg.Cluster.ID
	if id == "" {
		host, err := os.Hostname()
		if err != nil || host == "" {
			host = "serve"
		}
		id = fmt.Sprintf("%s-%d", strings.ReplaceAll(host, "/", "-"), apiAddr.Port)
	}
	opts := cluster.Options{Client: es.Client(), Prefix: es.Prefix(), ID: id, Address: addr, TTL: cfg.Cluster.TTL, Replace: d.inh != nil}
	in, err := cluster.Join(ctx, opts)
	if bluegreen.ErrorCode(err) == bluegreen.ECONFLICT {
		// Most often this instance's own previous process, killed a moment
		// ago (a service manager restarts it at once): its record goes when
		// its lease expires. A live instance with the same ID keeps it.
		d.logger.Warn("a live instance is registered with this cluster.id; waiting for its lease to expire (a previous process of this instance?)",
			"id", id, "ttl", cfg.Cluster.TTL)
		deadline := time.Now().Add(cfg.Cluster.TTL + 2*time.Second)
		for bluegreen.ErrorCode(err) == bluegreen.ECONFLICT && time.Now().Before(deadline) {
			sleep(ctx, 200*time.Millisecond)
			in, err = cluster.Join(ctx, opts)
		}
	}
	if err != nil {
		if bluegreen.ErrorCode(err) == bluegreen.ECONFLICT {
			return invalidf("%v: give each serve its own cluster.id (state: %s)", err, cfg.Etcd)
		}
		return fmt.Errorf("joining the serve instances on %s: %w", cfg.Etcd, err)
	}
	d.member = &member{in: in, cfg: *cfg.Cluster, where: cfg.Etcd.String(), endpoints: strings.Join(cfg.Etcd.Endpoints, ","), stateKey: es.StateKey(), scheme: APIScheme(cfg),
		rt: d.rt, drain: cfg.Router.DrainTimeout, publish: min(cfg.Watch.Interval, time.Second), logger: d.logger.With("component", "cluster", "instance", id), store: d.store}
	d.member.adminHash = sha256.Sum256([]byte(d.token))
	if err := in.ShareAdminToken(ctx, d.member.adminHash); err != nil {
		return fmt.Errorf("sharing the admin token's hash with the other serve instances: %w", err)
	}
	return nil
}

// run keeps the membership until ctx ends: it takes every committed live
// color, rewrites the instance's record (renewing a lost lease), publishes
// the router's figures (every watch interval, at least every second, for
// the leader's watch), and campaigns to lead. It returns once all that
// has stopped.
func (m *member) run(ctx context.Context) {
	var wg sync.WaitGroup
	publish := func(ctx context.Context) { publishFigures(ctx, m.in, m.rt.Stats, m.publish, m.logger) }
	for _, f := range []func(context.Context){m.follow, m.keep, m.lead, publish} {
		wg.Add(1)
		go func() { defer wg.Done(); f(ctx) }()
	}
	wg.Wait()
}

// follow takes each committed live color: the router swaps to it (the old
// color drains as after a local switch), the controller's view is
// refreshed on a follower, and the instance acknowledges the revision.
// etcd unreachable, the router keeps serving what it last took.
func (m *member) follow(ctx context.Context) {
	for live := range m.in.WatchLive(ctx, m.stateKey) {
		m.take(ctx, live)
	}
}

// take applies one committed live color (see follow).
func (m *member) take(ctx context.Context, live cluster.Live) {
	if m.leading.Load() {
		// The leader's controller commits and swaps under one lock: this
		// waits for a switch in progress to have swapped.
		st := m.ctl.State()
		if st.Revision > live.Revision {
			return // a newer commit is on its way
		}
		if st.Revision < live.Revision {
			// Committed by another instance (a configuration reload there):
			// the controller must commit on top of it.
			m.refresh(ctx)
		}
	}
	if live.Color.Valid() && m.rt.Live() != live.Color {
		from := m.rt.Live()
		drain := m.rt.Switch(live.Color)
		m.logger.Info("took the live color from the state store", "from", from, "to", live.Color, "revision", live.Revision)
		go func() {
			// Not ctx: a serve that stops or hands over lets the old
			// color's requests finish (up to the drain timeout) as after a
			// local switch; only the timeout cuts them.
			rep := drain.Wait(context.WithoutCancel(ctx), m.drain).Report()
			m.logger.Info("drained", "color", from, "in_flight", rep.InFlight, "finished", rep.Finished, "cut", rep.Cancelled)
		}()
	}
	m.taken.Store(live.Revision)
	// Acknowledged first: the switch waits for it; the follower's view of
	// the state (for reads) comes a read later.
	actx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	// Since is the router's own swap: the leader's controller swapped it
	// before this event arrived.
	color, since := m.rt.LiveSince()
	if err := m.in.Ack(actx, color, live.Revision, since); err != nil && ctx.Err() == nil {
		m.reach(err)
	}
	if !m.leading.Load() {
		m.refresh(ctx)
	}
}

// refresh reloads the controller's view of the committed state, for the
// reads a follower answers.
func (m *member) refresh(ctx context.Context) {
	rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if _, err := m.ctl.Refresh(rctx); err != nil && ctx.Err() == nil {
		m.logger.Warn("reading the committed state", "err", err)
	}
}

// keep rewrites the instance's record every heartbeatEvery, noting when
// etcd cannot be reached, and renews the lease once it was lost.
func (m *member) keep(ctx context.Context) {
	every(ctx, heartbeatEvery, func() {
		select {
		case <-m.in.Done():
			rctx, cancel := context.WithTimeout(ctx, heartbeatEvery)
			defer cancel()
			err := m.in.Renew(rctx)
			if err == nil {
				m.logger.Info("registered again with the state store after losing the lease")
				// What the router took while the lease was gone could not
				// be acknowledged then; the admin token's hash went with
				// the lease.
				color, since := m.rt.LiveSince()
				err = m.in.Ack(rctx, color, m.taken.Load(), since)
				if err == nil {
					err = m.in.ShareAdminToken(rctx, m.adminHash)
				}
			}
			m.reach(err)
			return
		default:
		}
		hctx, cancel := context.WithTimeout(ctx, heartbeatEvery)
		m.reach(m.in.Heartbeat(hctx))
		cancel()
	})
}

// reach notes whether the last call to etcd reached it (err nil).
func (m *member) reach(err error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	switch {
	case err == nil && !m.unreachableSince.IsZero():
		m.logger.Info("the state store is reachable again", "state", m.where, "unreachable_for", time.Since(m.unreachableSince).Round(time.Millisecond))
		m.unreachableSince, m.lastErr = time.Time{}, ""
	case err != nil && m.unreachableSince.IsZero():
		m.logger.Warn("the state store is unreachable: the router keeps serving the last committed color", "state", m.where, "err", err)
		m.unreachableSince, m.lastErr = time.Now(), err.Error()
	case err != nil:
		m.lastErr = err.Error()
	}
}

// unreachable reports whether the last call to etcd failed.
func (m *member) unreachable() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return !m.unreachableSince.IsZero()
}

// storeStatus is the controller's Options.StoreStatus.
func (m *member) storeStatus() bluegreen.StoreStatus {
	m.mu.Lock()
	defer m.mu.Unlock()
	s := bluegreen.StoreStatus{Kind: "etcd", Where: m.where, Error: m.lastErr}
	if !m.unreachableSince.IsZero() {
		t := m.unreachableSince.UTC()
		s.UnreachableSince = &t
	}
	return s
}

// lead campaigns until the instance leads, takes over the controller's
// duties, and stands down when the lease is lost; then campaigns again.
func (m *member) lead(ctx context.Context) {
	for ctx.Err() == nil {
		if err := m.in.Campaign(ctx); err != nil {
			if ctx.Err() == nil {
				if !errors.Is(err, cluster.ErrLeaseLost) {
					m.reach(err) // a lost lease is keep's to renew, not a store failure
				}
				sleep(ctx, retryEvery)
			}
			continue
		}
		key, rev := m.in.Leadership()
		if key == "" {
			continue // renewed since the campaign: campaign again on the new lease
		}
		lost := m.in.Lost(ctx)
		m.takeOver(ctx, key, rev)
		select {
		case <-ctx.Done():
		case <-lost:
			if ctx.Err() == nil {
				m.standDown("the leadership ended (the lease was lost: the state store unreachable for longer than cluster.ttl, or the election key gone)")
			}
		}
	}
	if m.leading.Load() {
		m.standDown("this serve stops or hands over")
	}
}

// takeOver makes this instance's controller the one that acts: it reads
// the committed state, takes its color, cleans up after the previous
// leader (an interrupted deployment, its lock), carries on the watch in
// progress, and records the leader's health verdicts; then it marks the
// instance leading, and the calls followers forward are served.
func (m *member) takeOver(ctx context.Context, key string, rev int64) {
	m.held.Store(&heldLead{key, rev})
	ctx = m.fence(ctx)
	st, err := m.ctl.Refresh(ctx)
	if err != nil {
		m.logger.Error("reading the state on taking the lead", "err", err)
	} else if st.Live.Valid() && m.rt.Live() != st.Live {
		m.rt.Switch(st.Live)
	}
	if err := m.ctl.Reclaim(ctx); err != nil {
		m.logger.Error("cleaning up after the previous leader", "err", err)
	}
	if err := m.recordColors(ctx); err != nil {
		m.logger.Error("recording this instance's colors in the state", "err", err)
	}
	m.ctl.ResumeWatch(ctx)
	st = m.ctl.State()
	for _, c := range bluegreen.Colors {
		if h := m.monitor.Health(c); h.Status != st.Colors[c].Health.Status && h.Status != bluegreen.HealthUnknown {
			m.ctl.RecordHealth(c, h)
		}
	}
	// Only now are calls served here: on a state read after the election
	// and cleaned up after the previous leader (leader waits for it).
	m.leading.Store(true)
	m.logger.Info("leading: this instance runs the controller", "live", st.Live, "revision", st.Revision)
	_ = m.store.Append(ctx, bluegreen.Event{Time: time.Now(), Actor: "bluegreen", Action: bluegreen.ActionServe,
		Color: st.Live, Outcome: bluegreen.OutcomeOK, Revision: st.Revision,
		Message: fmt.Sprintf("serve instance %s leads now (it runs the controller; the others forward to it)", m.in.ID())})
}

// standDown stops the controller's background work when the instance no
// longer leads (why says why): the watch in progress is left in the state
// for the next leader.
func (m *member) standDown(why string) {
	m.leading.Store(false)
	m.ctl.StopWatch()
	m.logger.Warn("no longer leading: "+why, "ttl", m.cfg.TTL)
}

// WaitAcks is controller.Cluster's: it waits up to cluster.ack_timeout.
func (m *member) WaitAcks(ctx context.Context, rev int64) (bluegreen.RouterAcks, error) {
	acks, err := m.in.WaitAcks(ctx, rev, time.Now().Add(m.cfg.AckTimeout))
	return bluegreen.RouterAcks{Acked: acks.Acked, Missing: acks.Missing, SpreadMS: bluegreen.Milliseconds(acks.Spread)}, err
}

// Instances is controller.Cluster's.
func (m *member) Instances(ctx context.Context) ([]bluegreen.Instance, error) {
	ms, err := m.in.Members(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]bluegreen.Instance, 0, len(ms))
	for _, mem := range ms {
		out = append(out, bluegreen.Instance{ID: mem.ID, Address: mem.Address, Role: string(mem.Role), Color: mem.Color,
			Revision: mem.Revision, Heartbeat: mem.Heartbeat, Self: mem.ID == m.in.ID()})
	}
	return out, nil
}

// close resigns and ends the membership (its keys go at once).
func (m *member) close() {
	wait := 3 * time.Second
	if m.unreachable() {
		wait = 500 * time.Millisecond // the lease expires by itself
	}
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	if err := m.in.Close(ctx); err != nil {
		m.logger.Warn("leaving the serve instances", "err", err)
	}
}

// sleep waits for d or until ctx ends.
func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}
