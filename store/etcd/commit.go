package etcd

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/bluegreen/bluegreen"
)

// Load returns the committed state, or State{Revision: 0} on a fresh
// prefix. Times come back in UTC. The read is linearizable: it sees every
// commit that returned before it started, from any process. It fails with
// ErrClosed after Close and with "state store unreachable" (EUNAVAILABLE)
// when the cluster has no quorum.
func (s *Store) Load(ctx context.Context) (bluegreen.State, error) {
	const op = "loading state"
	cctx, cancel, err := s.call(ctx, op)
	if err != nil {
		return bluegreen.State{}, err
	}
	defer cancel()
	resp, err := s.cli.Get(cctx, s.key(stateKey))
	if err != nil {
		return bluegreen.State{}, s.fail(cctx, op, err)
	}
	if len(resp.Kvs) == 0 {
		return bluegreen.State{}, nil
	}
	return decodeState(resp.Kvs[0].Value)
}

func decodeState(data []byte) (bluegreen.State, error) {
	var st bluegreen.State
	if err := json.Unmarshal(data, &st); err != nil {
		return bluegreen.State{}, fmt.Errorf("decoding the stored state: %w", err)
	}
	return st, nil
}

// Commit stores next as revision next.Revision+1 if the stored revision is
// still next.Revision, and appends events in the same etcd transaction; see
// bluegreen.Store. On success it returns the committed state exactly as Load
// will return it (times in UTC) and sets each event's ID, Revision and, when
// zero, Time in the events slice. On a revision mismatch it returns an error
// wrapping bluegreen.ErrConflict; on any error nothing is stored and events
// is left untouched (except when the answer to a transaction that etcd did
// apply was lost: then the commit is stored, as with any remote store, and
// Load shows it).
func (s *Store) Commit(ctx context.Context, next bluegreen.State, events ...bluegreen.Event) (bluegreen.State, error) {
	const op = "committing state"
	committed := next.Clone()
	committed.Revision = next.Revision + 1
	committed.InUTC()
	data, err := json.Marshal(committed)
	if err != nil {
		return bluegreen.State{}, fmt.Errorf("encoding state: %w", err)
	}
	out, err := decodeState(data) // what Load will return
	if err != nil {
		return bluegreen.State{}, err
	}
	evs := append([]bluegreen.Event(nil), events...)
	for i := range evs {
		evs[i].Revision = committed.Revision
	}
	tries := 0
	err = s.write(ctx, op, evs, func(cur *clientv3.GetResponse) ([]clientv3.Cmp, []clientv3.Op, error) {
		var (
			rev int64
			mod int64
		)
		if len(cur.Kvs) > 0 {
			st, err := decodeState(cur.Kvs[0].Value)
			if err != nil {
				return nil, nil, err
			}
			rev, mod = st.Revision, cur.Kvs[0].ModRevision
		}
		f, fenced := fenceOf(ctx)
		tries++
		// A fenced write reads its fence when a try failed or the state
		// moved (a new leader's commit usually has): a fenced-out leader
		// is told so, not that the state changed. The first try's
		// comparison alone guards it (no read more on a switch's path).
		if fenced && (tries > 1 || rev != next.Revision || f.key == "") {
			if err := s.checkFence(ctx, op, f); err != nil {
				return nil, nil, err
			}
		}
		if rev != next.Revision {
			return nil, nil, fmt.Errorf("%s: read at revision %d, stored revision is %d: %w",
				op, next.Revision, rev, bluegreen.ErrConflict)
		}
		k := s.key(stateKey)
		cmps := []clientv3.Cmp{clientv3.Compare(clientv3.ModRevision(k), "=", mod)}
		if fenced {
			cmps = append(cmps, clientv3.Compare(clientv3.CreateRevision(f.key), "=", f.rev))
		}
		return cmps, []clientv3.Op{clientv3.OpPut(k, string(data))}, nil
	})
	if err != nil {
		return bluegreen.State{}, err
	}
	copy(events, evs)
	return out, nil
}

// fence is a key that must still exist, with the create revision rev, for
// a commit to be stored (WithFence).
type fence struct {
	key string
	rev int64
}

type fenceKey struct{}

// ErrFenced is wrapped by the error of a Commit made under a fence
// (WithFence) that is gone: nothing was stored.
var ErrFenced = bluegreen.Errorf(bluegreen.ECONFLICT, "the change was refused: the leadership it was made under has ended (another instance leads now); try again")

// WithFence returns ctx carrying a fence, which current gives at each
// commit (ok false: none now): Commit (and CommitVisible) on it store the
// state only while the fence's key exists with its create revision (an
// etcd election's leader key, held under the leader's lease), in the same
// transaction; otherwise they fail with ErrFenced and store nothing. A
// leader that lost its leadership while an operation ran cannot commit it.
// A fence with an empty key fails every commit with ErrFenced. Append is
// not fenced.
func WithFence(ctx context.Context, current func() (key string, rev int64, ok bool)) context.Context {
	return context.WithValue(ctx, fenceKey{}, current)
}

// fenceOf returns the fence ctx carries now, if any.
func fenceOf(ctx context.Context) (fence, bool) {
	current, ok := ctx.Value(fenceKey{}).(func() (string, int64, bool))
	if !ok {
		return fence{}, false
	}
	key, rev, ok := current()
	return fence{key, rev}, ok
}

// checkFence fails with ErrFenced when f's key is gone or was made again:
// the transaction's comparison failing would otherwise read as a state
// that changed, and the write would be tried again.
func (s *Store) checkFence(ctx context.Context, op string, f fence) error {
	if f.key == "" {
		return fmt.Errorf("%s: %w", op, ErrFenced)
	}
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.timeout)
	defer cancel()
	resp, err := s.cli.Get(cctx, f.key)
	if err != nil {
		return s.fail(cctx, op, err)
	}
	if len(resp.Kvs) == 0 || resp.Kvs[0].CreateRevision != f.rev {
		return fmt.Errorf("%s: %w", op, ErrFenced)
	}
	return nil
}

// CommitVisible is Commit for a caller that must act on the commit as early
// as possible (see sqlite.Store.CommitVisible). On etcd a commit is visible
// to every reader and on a quorum of members' disks when it returns, so
// sync has nothing left to do and returns nil; the caller must still call
// it. On error, nothing is stored and sync is nil.
func (s *Store) CommitVisible(ctx context.Context, next bluegreen.State, events ...bluegreen.Event) (st bluegreen.State, sync func() error, err error) {
	st, err = s.Commit(ctx, next, events...)
	if err != nil {
		return st, nil, err
	}
	return st, func() error { return nil }, nil
}

// Append adds events that do not change the state, in one transaction, and
// sets each event's ID (increasing in slice order) and, when zero, its Time
// in the events slice. The events' Revision is stored as given. On error
// nothing is stored and events is left untouched. Appending no events is a
// no-op (but still fails after Close).
func (s *Store) Append(ctx context.Context, events ...bluegreen.Event) error {
	const op = "appending events"
	if s.closed.Load() {
		return fmt.Errorf("%s: %w", op, ErrClosed)
	}
	if len(events) == 0 {
		return nil
	}
	evs := append([]bluegreen.Event(nil), events...)
	if err := s.write(ctx, op, evs, nil); err != nil {
		return err
	}
	copy(events, evs)
	return nil
}

// guardFunc looks at the stored state (cur, from the same snapshot as the
// ID counter) and returns the comparisons and writes to add to the
// transaction, or an error that ends the write.
type guardFunc func(cur *clientv3.GetResponse) ([]clientv3.Cmp, []clientv3.Op, error)

// write runs one transaction that appends evs (filling in their IDs and
// zero Times) with whatever guard adds, when guard is not nil. It reads the
// state and the ID counter in one snapshot, and commits only if neither
// changed since; when only the counter changed (another writer appended) it
// reads again and retries, until the request timeout.
func (s *Store) write(ctx context.Context, op string, evs []bluegreen.Event, guard guardFunc) error {
	cctx, cancel, err := s.call(ctx, op)
	if err != nil {
		return err
	}
	defer cancel()
	now := time.Now().UTC()
	for i := range evs {
		if evs[i].Time.IsZero() {
			evs[i].Time = now
		}
		evs[i].Time = evs[i].Time.UTC()
		if len(evs[i].Details) == 0 {
			evs[i].Details = nil
		}
	}
	counter := s.key(nextIDKey)
	for {
		snap, err := s.cli.Txn(cctx).Then(clientv3.OpGet(s.key(stateKey)), clientv3.OpGet(counter)).Commit()
		if err != nil {
			return s.fail(cctx, op, err)
		}
		state, ids := snap.Responses[0].GetResponseRange(), snap.Responses[1].GetResponseRange()
		nextID, counterMod := int64(1), int64(0)
		if len(ids.Kvs) > 0 {
			if nextID, err = strconv.ParseInt(string(ids.Kvs[0].Value), 10, 64); err != nil {
				return fmt.Errorf("%s: the stored next event ID %q: %w", op, ids.Kvs[0].Value, err)
			}
			counterMod = ids.Kvs[0].ModRevision
		}
		var (
			cmps []clientv3.Cmp
			ops  []clientv3.Op
		)
		if guard != nil {
			if cmps, ops, err = guard((*clientv3.GetResponse)(state)); err != nil {
				return err
			}
		}
		pending := append([]bluegreen.Event(nil), evs...)
		for i := range pending {
			pending[i].ID = nextID + int64(i)
			b, err := json.Marshal(pending[i])
			if err != nil {
				return fmt.Errorf("encoding event %q: %w", pending[i].Action, err)
			}
			ops = append(ops, clientv3.OpPut(s.eventKey(pending[i].ID), string(b)))
		}
		if len(pending) > 0 {
			cmps = append(cmps, clientv3.Compare(clientv3.ModRevision(counter), "=", counterMod))
			ops = append(ops, clientv3.OpPut(counter, strconv.FormatInt(nextID+int64(len(pending)), 10)))
		}
		if beforeWrite != nil {
			beforeWrite()
		}
		resp, err := s.cli.Txn(cctx).If(cmps...).Then(ops...).Commit()
		if err != nil {
			// The transaction may have been applied with its answer lost:
			// the first event's key says whether it was.
			if len(pending) > 0 && !s.closed.Load() && !errors.Is(err, context.Canceled) {
				switch stored, verr := s.settle(ctx, counter, counterMod, nextID, pending[0]); {
				case verr == nil && stored:
					copy(evs, pending)
					return nil
				case verr != nil:
					return newUnknownOutcome(op, s.fail(cctx, op, err))
				}
			}
			return s.fail(cctx, op, err)
		}
		if resp.Succeeded {
			copy(evs, pending)
			return nil
		}
		// The state or the counter moved: read again (the guard reports a
		// conflict if it was the state).
	}
}

// beforeWrite, when not nil, runs between a write's snapshot read and its
// transaction: the tests' way to make etcd stop answering at that moment.
var beforeWrite func()

// settle makes the outcome of a transaction whose answer was lost certain,
// and reports it: the transaction compared the event counter's mod
// revision with counterMod, so rewriting the counter (with the value it
// had, nextID) while it still has that mod revision means the lost
// transaction can never apply: not stored. When the counter moved, the
// lost transaction applied or another writer appended: ev, its first
// event, says which (stored). It asks within a request timeout of its own;
// an error means the outcome stays unknown.
func (s *Store) settle(ctx context.Context, counter string, counterMod, nextID int64, ev bluegreen.Event) (bool, error) {
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.timeout)
	defer cancel()
	resp, err := s.cli.Txn(cctx).If(clientv3.Compare(clientv3.ModRevision(counter), "=", counterMod)).
		Then(clientv3.OpPut(counter, strconv.FormatInt(nextID, 10))).Commit()
	if err != nil {
		return false, err
	}
	if resp.Succeeded {
		return false, nil // fenced off: the lost transaction cannot apply any more
	}
	return s.stored(ctx, ev)
}

// stored reports whether ev, the first event of a transaction whose answer
// was lost, is in the history as written: then the transaction was
// applied. It asks within a request timeout of its own.
func (s *Store) stored(ctx context.Context, ev bluegreen.Event) (bool, error) {
	want, err := json.Marshal(ev)
	if err != nil {
		return false, err
	}
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.timeout)
	defer cancel()
	resp, err := s.cli.Get(cctx, s.eventKey(ev.ID))
	if err != nil {
		return false, err
	}
	return len(resp.Kvs) == 1 && bytes.Equal(resp.Kvs[0].Value, want), nil
}

// unknownOutcome is the error of a write whose answer was lost and whose
// effect could not be checked: it may be stored (bluegreen.ErrOutcomeUnknown).
// Its message, the one callers show, says so.
type unknownOutcome struct {
	op    string
	shown *bluegreen.Error
	cause error
}

// newUnknownOutcome wraps err, op's failure, as an unknown outcome.
func newUnknownOutcome(op string, err error) error {
	return &unknownOutcome{op: op, cause: err, shown: bluegreen.Errorf(bluegreen.ErrorCode(err),
		"%s; the write may still take effect when etcd answers again (the history would then show it)", bluegreen.ErrorMessage(err))}
}

func (e *unknownOutcome) Error() string { return e.op + ": " + e.shown.Message }

func (e *unknownOutcome) Unwrap() []error {
	return []error{e.shown, bluegreen.ErrOutcomeUnknown, e.cause}
}
