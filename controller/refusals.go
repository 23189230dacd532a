package controller

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/bluegreen/bluegreen"
)

// Bounds of the refusal collapsing (refusalLog).
const (
	// defaultRefusalWindow is Options.RefusalWindow's default.
	defaultRefusalWindow = time.Minute
	// maxRefusalKinds is how many distinct refusals one token may have
	// recorded in full within a window; the ones beyond are counted
	// together ("other refusals").
	maxRefusalKinds = 16
	// maxRefusalRuns bounds the map of refusals being counted, whatever
	// the number of tokens: beyond it every new kind is counted together.
	maxRefusalRuns = 1024
	// maxRefusalActors is how many distinct actors a summary names.
	maxRefusalActors = 5
)

// refusalLog is a Store whose Append collapses repeated identical refusals,
// so that a caller repeating a refused call cannot flood the history:
//
//   - The first refusal of a kind (same token, action, color and message;
//     the actor does not count, it is the caller's to choose) is appended
//     at once, in full.
//   - Identical ones within the window that follows it are counted, not
//     appended. When the window ends (or the log is closed), one summary
//     event records how many there were, from when to when, and by which
//     actors. Nothing is lost: every refusal is in an event or a count.
//   - One token's distinct kinds beyond maxRefusalKinds in a window, and
//     any kind beyond maxRefusalRuns overall, are counted together under
//     one "other refusals" kind, so the history grows by a bounded number
//     of events per token and window.
//
// Events of other outcomes pass through unchanged. It is safe for
// concurrent use.
type refusalLog struct {
	bluegreen.Store
	window time.Duration
	now    func() time.Time
	logger *slog.Logger

	mu     sync.Mutex
	runs   map[refusalKey]*refusalRun
	kinds  map[string]int // per token: kinds being counted
	closed bool
}

// refusalKey is what makes two refusals "identical".
type refusalKey struct {
	token, message string
	action         bluegreen.Action
	color          bluegreen.Color
}

// refusalRun is one kind of refusal within its window.
type refusalRun struct {
	first       bluegreen.Event // as appended (the "other" kind: the first one counted)
	other       bool            // the kind that counts a token's refusals beyond the distinct ones
	count       int             // identical ones since, not appended
	firstRepeat time.Time
	lastRepeat  time.Time
	lastActor   string
	actors      []string // the first distinct ones, up to maxRefusalActors
	timer       *time.Timer
}

func newRefusalLog(s bluegreen.Store, window time.Duration, now func() time.Time, logger *slog.Logger) *refusalLog {
	if window <= 0 {
		window = defaultRefusalWindow
	}
	return &refusalLog{Store: s, window: window, now: now, logger: logger,
		runs: map[refusalKey]*refusalRun{}, kinds: map[string]int{}}
}

// Append appends events, except refusals that repeat one appended within
// the window: those are counted, and summarised when the window ends. Like
// the store, it fills in the IDs of the events it appended; a counted
// refusal keeps ID 0.
func (l *refusalLog) Append(ctx context.Context, events ...bluegreen.Event) error {
	keep := events[:0:0]
	var at []int // where each kept event is in events
	for i, ev := range events {
		if ev.Outcome != bluegreen.OutcomeRefused || !l.count(ev) {
			keep = append(keep, ev)
			at = append(at, i)
		}
	}
	if len(keep) == len(events) {
		return l.Store.Append(ctx, events...)
	}
	if len(keep) == 0 {
		return nil
	}
	// The store fills in the IDs of what it appended: a counted refusal
	// keeps ID 0 (record does not notify about it).
	err := l.Store.Append(ctx, keep...)
	for j, i := range at {
		events[i] = keep[j]
	}
	return err
}

// count notes the refusal ev and reports whether it was counted (and must
// not be appended).
func (l *refusalLog) count(ev bluegreen.Event) bool {
	token, _ := ev.Details["token"].(string)
	key := refusalKey{token: token, action: ev.Action, message: ev.Message, color: ev.Color}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return false
	}
	if r := l.runs[key]; r != nil {
		r.repeat(ev, l.now())
		return true
	}
	if l.kinds[token] >= maxRefusalKinds || len(l.runs) >= maxRefusalRuns {
		// Too many kinds: this one is counted with the token's others.
		other := refusalKey{token: token, action: "*"}
		if len(l.runs) >= maxRefusalRuns {
			other.token = "*"
		}
		r := l.runs[other]
		if r == nil {
			r = l.start(other, ev)
			r.other = true
		}
		r.repeat(ev, l.now())
		return true
	}
	l.start(key, ev)
	return false
}

// start begins the window of a kind whose first event is ev. mu is held.
func (l *refusalLog) start(key refusalKey, ev bluegreen.Event) *refusalRun {
	r := &refusalRun{first: ev}
	l.runs[key] = r
	l.kinds[key.token]++
	r.timer = time.AfterFunc(l.window, func() { l.end(key, r) })
	return r
}

func (r *refusalRun) repeat(ev bluegreen.Event, now time.Time) {
	if r.count == 0 {
		r.firstRepeat = now
	}
	r.count++
	r.lastRepeat, r.lastActor = now, ev.Actor
	if len(r.actors) < maxRefusalActors {
		for _, a := range r.actors {
			if a == ev.Actor {
				return
			}
		}
		r.actors = append(r.actors, ev.Actor)
	}
}

// end closes the window of key's run r and appends its summary, if it
// counted any.
func (l *refusalLog) end(key refusalKey, r *refusalRun) {
	l.mu.Lock()
	if l.runs[key] != r {
		l.mu.Unlock()
		return // already ended by Close
	}
	l.forget(key)
	l.mu.Unlock()
	l.appendSummary(r)
}

// forget drops key's run. mu is held.
func (l *refusalLog) forget(key refusalKey) {
	delete(l.runs, key)
	if l.kinds[key.token]--; l.kinds[key.token] <= 0 {
		delete(l.kinds, key.token)
	}
}

func (l *refusalLog) appendSummary(r *refusalRun) {
	if r.count == 0 {
		return
	}
	ev := r.first
	ev.ID, ev.Time, ev.Actor = 0, l.now(), r.lastActor
	from, to := r.firstRepeat.UTC().Format(time.RFC3339), r.lastRepeat.UTC().Format(time.RFC3339)
	d := make(map[string]any, len(ev.Details)+5)
	for k, v := range ev.Details {
		d[k] = v
	}
	if r.other {
		// Counted together: the first of them stands as an example.
		d["example"] = ev.Message
		ev.Message = fmt.Sprintf("%d more refused calls, beyond the %d distinct refusals recorded in full, from %s to %s",
			r.count, maxRefusalKinds, from, to)
	} else {
		times := "once more"
		if r.count > 1 {
			times = fmt.Sprintf("%d more times", r.count)
		}
		ev.Message = fmt.Sprintf("%s (refused %s from %s to %s)", ev.Message, times, from, to)
	}
	d["repeated"] = r.count
	d["first_repeat"] = r.firstRepeat.UTC()
	d["last_repeat"] = r.lastRepeat.UTC()
	d["actors"] = r.actors
	ev.Details = d
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := l.Store.Append(ctx, ev); err != nil {
		l.logger.Error("recording repeated refusals", "action", ev.Action, "repeated", r.count, "err", err)
	}
}

// CommitVisible passes a visible commit (sqlite.Store.CommitVisible) on to
// the store, or commits there when it cannot make one.
func (l *refusalLog) CommitVisible(ctx context.Context, next bluegreen.State, events ...bluegreen.Event) (bluegreen.State, func() error, error) {
	if vc, ok := l.Store.(visibleCommitter); ok {
		return vc.CommitVisible(ctx, next, events...)
	}
	st, err := l.Store.Commit(ctx, next, events...)
	return st, noSync, err
}

// closeWindows ends every window at once, appending the summaries of the
// refusals counted so far; refusals after it are appended as they come.
// It does not close the store.
func (l *refusalLog) closeWindows() {
	l.mu.Lock()
	l.closed = true
	var pending []*refusalRun
	for key, r := range l.runs {
		r.timer.Stop()
		l.forget(key)
		pending = append(pending, r)
	}
	l.mu.Unlock()
	for _, r := range pending {
		l.appendSummary(r)
	}
}

// maxRefusalMessage bounds a refusal's recorded message: it may quote what
// the caller sent (a ref, a color).
const maxRefusalMessage = 1000

// refuse records that an operation of actor's (action on color, what in a
// few words: "deploy of v2 into green") was refused with err, as a refused
// switch is: outcome refused, through the collapsing of repeats. Only
// refusals are recorded: errors with code EREFUSED, ECONFLICT (the lock is
// held, the state moved) or EINVALID (a request the controller cannot
// carry out); the controller's own failures are not the caller's refusal.
// It returns err unchanged, and nil for nil. mu must not be held.
func (c *Controller) refuse(ctx context.Context, action bluegreen.Action, color bluegreen.Color, actor, what string, err error) error {
	switch bluegreen.ErrorCode(err) {
	case bluegreen.EREFUSED, bluegreen.ECONFLICT, bluegreen.EINVALID:
	default:
		return err
	}
	msg := what + " refused: " + bluegreen.ErrorMessage(err)
	if len(msg) > maxRefusalMessage {
		msg = strings.ToValidUTF8(msg[:maxRefusalMessage], "") + "…"
	}
	c.mu.Lock()
	rev := c.state.Revision // the state it was refused in, as a refused switch records
	c.mu.Unlock()
	ev := bluegreen.Event{Time: c.now(), Actor: actorOr(actor), Action: action, Outcome: bluegreen.OutcomeRefused,
		Revision: rev, Message: msg, Details: map[string]any{"code": bluegreen.ErrorCode(err)}}
	if color.Valid() {
		ev.Color = color
	}
	c.record(context.WithoutCancel(ctx), ev)
	return err
}
