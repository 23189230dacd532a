package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/bluegreen/bluegreen"
)

// History limits: a zero HistoryFilter.Limit means DefaultHistoryLimit, and
// larger limits are cut to MaxHistoryLimit.
const (
	DefaultHistoryLimit = 100
	MaxHistoryLimit     = 10000
)

// History returns the events matching f, newest (highest ID) first. Zero
// fields of f match everything; Limit <= 0 means DefaultHistoryLimit and
// Limit > MaxHistoryLimit means MaxHistoryLimit; BeforeID > 0 returns only
// events with smaller IDs, so passing the last ID of one page gets the next.
// Times come back in UTC; numbers in Details come back as float64 (JSON).
// It returns a nil slice when nothing matches, and fails with ErrClosed after
// Close.
func (s *Store) History(ctx context.Context, f bluegreen.HistoryFilter) ([]bluegreen.Event, error) {
	const op = "reading history"
	if s.closed.Load() {
		return nil, fmt.Errorf("%s: %w", op, ErrClosed)
	}
	var (
		where []string
		args  []any
	)
	add := func(cond string, v any) {
		where = append(where, cond)
		args = append(args, v)
	}
	if f.Color != "" {
		add("color = ?", string(f.Color))
	}
	if f.Action != "" {
		add("action = ?", string(f.Action))
	}
	if f.Actor != "" {
		add("actor = ?", f.Actor)
	}
	if f.Outcome != "" {
		add("outcome = ?", string(f.Outcome))
	}
	// Times are stored in one fixed-width UTC format, so they compare as text.
	if !f.Since.IsZero() {
		add("time >= ?", f.Since.UTC().Format(timeFormat))
	}
	if !f.Until.IsZero() {
		add("time < ?", f.Until.UTC().Format(timeFormat))
	}
	if f.BeforeID > 0 {
		add("id < ?", f.BeforeID)
	}
	limit := f.Limit
	switch {
	case limit <= 0:
		limit = DefaultHistoryLimit
	case limit > MaxHistoryLimit:
		limit = MaxHistoryLimit
	}
	q := "SELECT id, time, actor, action, color, outcome, revision, message, details FROM events"
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	q += " ORDER BY id DESC LIMIT ?"
	args = append(args, limit)

	rows, err := s.db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, s.fail(op, err)
	}
	defer rows.Close()
	var evs []bluegreen.Event
	for rows.Next() {
		e, err := scanEvent(rows)
		if err != nil {
			return nil, s.fail(op, err)
		}
		evs = append(evs, e)
	}
	if err := rows.Err(); err != nil {
		return nil, s.fail(op, err)
	}
	return evs, nil
}

func scanEvent(rows *sql.Rows) (bluegreen.Event, error) {
	var (
		e       bluegreen.Event
		ts      string
		color   string
		details sql.NullString
	)
	if err := rows.Scan(&e.ID, &ts, &e.Actor, &e.Action, &color, &e.Outcome, &e.Revision, &e.Message, &details); err != nil {
		return e, err
	}
	t, err := time.Parse(time.RFC3339Nano, ts)
	if err != nil {
		return e, fmt.Errorf("event %d has a bad time %q: %w", e.ID, ts, err)
	}
	e.Time = t.UTC()
	e.Color = bluegreen.Color(color)
	if details.Valid {
		if err := json.Unmarshal([]byte(details.String), &e.Details); err != nil {
			return e, fmt.Errorf("event %d has bad details: %w", e.ID, err)
		}
	}
	return e, nil
}
