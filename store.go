package bluegreen

import (
	"context"
	"time"
)

// Store keeps the committed State and the event history. Implementations are
// safe for concurrent use. A change is durable when Commit or Append returns
// nil: a crash (kill -9) right after loses nothing.
type Store interface {
	// Load returns the committed state. On a fresh store it returns a State
	// with Revision 0 and no error.
	Load(ctx context.Context) (State, error)

	// Commit stores next as the new state if the stored revision still equals
	// next.Revision, and appends events in the same transaction. It returns the
	// committed state, whose Revision is next.Revision+1, and sets each event's
	// Revision to it. If the stored revision differs it returns an error
	// wrapping ErrConflict and changes nothing.
	Commit(ctx context.Context, next State, events ...Event) (State, error)

	// Append adds events that do not change the state. Their IDs are assigned
	// in order.
	Append(ctx context.Context, events ...Event) error

	// History returns events matching f, newest first.
	History(ctx context.Context, f HistoryFilter) ([]Event, error)

	// Close releases the store. Calls after Close fail.
	Close() error
}

// HistoryFilter selects events. Zero fields match everything.
type HistoryFilter struct {
	Color   Color
	Action  Action
	Actor   string
	Outcome Outcome
	// Since and Until select events at or after Since and before Until.
	Since, Until time.Time
	// Limit caps the number of events returned; 0 means 100.
	Limit int
	// BeforeID returns only events with ID < BeforeID when non-zero (paging).
	BeforeID int64
}
