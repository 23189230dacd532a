package statestore

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/bluegreen/bluegreen"
)

// historyPage is how many events Copy reads at a time (both stores'
// MaxHistoryLimit), appendBatch how many it writes in one Append (below
// etcd's default --max-txn-ops of 128, less the two operations Append adds).
const (
	historyPage = 10000
	appendBatch = 100
)

// Progress is told how far a copy is: done of total items of what
// ("events", "tokens", "revisions"). It is called from Copy's goroutine.
type Progress func(what string, done, total int)

// Report says what Copy copied; From and To are for the caller to fill in.
type Report struct {
	From     string          `json:"from"`
	To       string          `json:"to"`
	Revision int64           `json:"revision"`
	Live     bluegreen.Color `json:"live,omitempty"`
	Events   int             `json:"events"`
	Tokens   int             `json:"tokens"`
	// SetAside is where --force moved the target's old state.db; "" when
	// it did not.
	SetAside string `json:"set_aside,omitempty"`
}

// Contents says what a store holds, for the refusal of a non-empty target.
type Contents struct {
	Revision int64
	Events   int // 0 or 1: whether there is any event
	Tokens   int
}

// Empty reports whether the store holds nothing.
func (c Contents) Empty() bool { return c.Revision == 0 && c.Events == 0 && c.Tokens == 0 }

// String describes a non-empty store's contents.
func (c Contents) String() string {
	var parts []string
	if c.Revision > 0 {
		parts = append(parts, fmt.Sprintf("a state at revision %d", c.Revision))
	}
	if c.Events > 0 {
		parts = append(parts, "history")
	}
	if c.Tokens > 0 {
		parts = append(parts, fmt.Sprintf("%d tokens", c.Tokens))
	}
	return strings.Join(parts, ", ")
}

// Inspect returns what s holds.
func Inspect(ctx context.Context, s Store) (Contents, error) {
	var c Contents
	st, err := s.Load(ctx)
	if err != nil {
		return c, err
	}
	evs, err := s.History(ctx, bluegreen.HistoryFilter{Limit: 1})
	if err != nil {
		return c, err
	}
	toks, err := s.Tokens(ctx)
	if err != nil {
		return c, err
	}
	return Contents{Revision: st.Revision, Events: len(evs), Tokens: len(toks)}, nil
}

// ErrNotEmpty is returned (wrapped, with what the target holds) by Copy for
// a target that is not empty; errors.Is works on it.
var ErrNotEmpty = bluegreen.Errorf(bluegreen.ECONFLICT, "the target state store is not empty")

// Copy copies the state (at the same revision), the whole history (with the
// same event IDs), the tokens (their hashes; revoked ones stay revoked) and
// so the deployments (part of the state and history) from src to dst, which
// must be empty (else an error wrapping ErrNotEmpty says what it holds).
// The source should not change meanwhile (stop serve, or accept a copy of
// the moment it was read). progress may be nil. On error dst may hold part
// of the copy.
func Copy(ctx context.Context, src, dst Store, progress Progress) (Report, error) {
	if progress == nil {
		progress = func(string, int, int) {}
	}
	var r Report
	have, err := Inspect(ctx, dst)
	if err != nil {
		return r, fmt.Errorf("reading the target: %w", err)
	}
	if !have.Empty() {
		return r, fmt.Errorf("%w: it holds %s", ErrNotEmpty, have)
	}
	st, err := src.Load(ctx)
	if err != nil {
		return r, fmt.Errorf("reading the source state: %w", err)
	}
	events, err := allEvents(ctx, src)
	if err != nil {
		return r, fmt.Errorf("reading the source history: %w", err)
	}
	toks, err := src.Tokens(ctx)
	if err != nil {
		return r, fmt.Errorf("reading the source tokens: %w", err)
	}
	hashes, err := src.TokenHashes(ctx)
	if err != nil {
		return r, fmt.Errorf("reading the source tokens: %w", err)
	}

	for i := 0; i < len(events); i += appendBatch {
		batch := slices.Clone(events[i:min(i+appendBatch, len(events))])
		if err := dst.Append(ctx, batch...); err != nil {
			return r, fmt.Errorf("writing history: %w", err)
		}
		for j, e := range batch {
			if want := events[i+j].ID; e.ID != want {
				return r, fmt.Errorf("writing history: event %d got ID %d in the target", want, e.ID)
			}
		}
		progress("events", i+len(batch), len(events))
	}
	for i, t := range toks {
		hash, ok := hashes[t.Name]
		if !ok {
			return r, fmt.Errorf("reading the source tokens: no hash for token %q", t.Name)
		}
		if err := dst.CreateToken(ctx, t, hash); err != nil {
			return r, fmt.Errorf("writing token %q: %w", t.Name, err)
		}
		if !t.Revoked.IsZero() {
			if _, err := dst.RevokeToken(ctx, t.Name, t.Revoked); err != nil {
				return r, fmt.Errorf("writing token %q: %w", t.Name, err)
			}
		}
		progress("tokens", i+1, len(toks))
	}
	// The state keeps its revision: callers and the history refer to it.
	// A Commit raises the revision by one, so it takes that many.
	for rev := int64(0); rev < st.Revision; rev++ {
		next := st.Clone()
		next.Revision = rev
		if _, err := dst.Commit(ctx, next); err != nil {
			return r, fmt.Errorf("writing the state: %w", err)
		}
		if rev+1 == st.Revision || (rev+1)%500 == 0 {
			progress("revisions", int(rev+1), int(st.Revision))
		}
	}
	return Report{Revision: st.Revision, Live: st.Live, Events: len(events), Tokens: len(toks)}, nil
}

// allEvents returns every event of s, oldest first.
func allEvents(ctx context.Context, s Store) ([]bluegreen.Event, error) {
	var out []bluegreen.Event
	var before int64
	for {
		page, err := s.History(ctx, bluegreen.HistoryFilter{Limit: historyPage, BeforeID: before})
		if err != nil {
			return nil, err
		}
		out = append(out, page...)
		if len(page) < historyPage {
			break
		}
		before = page[len(page)-1].ID
	}
	slices.Reverse(out)
	for i, e := range out {
		if e.ID != int64(i+1) {
			return nil, fmt.Errorf("the source's event IDs are not 1..%d (event %d is #%d); a copy would renumber them", len(out), i+1, e.ID)
		}
	}
	return out, nil
}

// SetAside moves a SQLite state file in dir (with its -wal and -shm files)
// to state.db.replaced-<time>, for `state copy --force`, and returns the new
// name ("" when there was no state file).
func SetAside(dir string, now time.Time) (string, error) {
	src := filepath.Join(dir, StateFileName)
	if _, err := os.Lstat(src); os.IsNotExist(err) {
		return "", nil
	}
	dst := src + ".replaced-" + now.UTC().Format("20060102T150405Z")
	for _, suffix := range []string{"", "-wal", "-shm"} {
		err := os.Rename(src+suffix, dst+suffix)
		if err != nil && !os.IsNotExist(err) {
			return "", fmt.Errorf("setting the old state aside: %w", err)
		}
	}
	return dst, nil
}
