package dns

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/bluegreen/bluegreen"
)

// Report says what a Switch did, how the change reached the authoritative
// servers, and how long the old color must keep serving.
type Report struct {
	// Name and Type identify the record.
	Name string `json:"name"`
	Type string `json:"type"`
	// From and To are the colors switched between.
	From bluegreen.Color `json:"from"`
	To   bluegreen.Color `json:"to"`
	// Old are the values the record held before, New the values it holds.
	Old []string `json:"old"`
	New []string `json:"new"`
	// Applied is true when the record holds To's values at the provider:
	// the switch took effect, even if Switch returned an error (a
	// propagation timeout). When false, the record was not changed.
	Applied bool `json:"applied"`
	// Changed is false when the record already held To's values, so no
	// update was sent (a repeated or resumed switch).
	Changed bool `json:"changed"`
	// OldTTL is the TTL the record had: caches may keep the old values
	// that long. TTL is the TTL the record has now.
	OldTTL time.Duration `json:"old_ttl"`
	TTL    time.Duration `json:"ttl"`
	// Propagation is how the new values reached each server.
	Propagation Propagation `json:"propagation"`
	// DrainUntil is when the old color may stop serving: when the last
	// authoritative server answered the new values (or, if some never did
	// within the timeout, when the check gave up), plus OldTTL, plus the
	// drain margin. Zero when not Applied.
	DrainUntil time.Time `json:"drain_until,omitzero"`
}

// Switch moves the record from `from`'s values to `to`'s, with the
// record's TTL, then waits until every authoritative server answers the new
// values (Propagation). In order:
//
//   - It reads the record. If it holds `to`'s values already, nothing is
//     sent (Report.Changed false) and only propagation is checked.
//   - If it holds anything but `from`'s values, Switch refuses: it returns a
//     *MismatchError (EREFUSED) naming what the record holds, and changes
//     nothing.
//   - Otherwise it asks the provider to replace `from`'s values with `to`'s,
//     conditionally on `from`'s still being there. If the provider's answer
//     is lost (a timeout), Switch reads the record again and carries on if
//     it holds `to`'s values.
//   - It then queries each authoritative server until all answer `to`'s
//     values (TTLs are not compared: some providers clamp them). A timeout
//     returns a *PropagationError (EUNAVAILABLE) with Report.Applied true:
//     the update stands.
//
// The returned Report is filled as far as Switch got; Report.Applied tells
// whether the record now holds `to` at the provider, whatever the error.
func (s *Switcher) Switch(ctx context.Context, from, to bluegreen.Color) (Report, error) {
	rep := Report{Name: s.rec.Name, Type: s.rec.Type, From: from, To: to}
	if !from.Valid() || !to.Valid() || from == to {
		return rep, bluegreen.Errorf(bluegreen.EINVALID, "dns: cannot switch %s from %q to %q: want blue to green or green to blue", s.rec.Name, string(from), string(to))
	}
	fromVals, toVals := s.rec.Values[from], s.rec.Values[to]
	rep.New = toVals
	cur, err := s.Current(ctx)
	if err != nil {
		return rep, fmt.Errorf("reading %s %s before the switch: %w", s.rec.Name, s.rec.Type, err)
	}
	rep.Old, rep.OldTTL = cur.Values, cur.TTL
	switch cur.Color {
	case to:
		rep.Applied, rep.TTL = true, cur.TTL
	case from:
		if err := s.provider.Replace(ctx, s.rec, fromVals, toVals, s.rec.TTL); err != nil {
			if done, err := s.afterFailedReplace(ctx, err, fromVals, toVals, "switch"); !done {
				return rep, err
			}
		}
		rep.Applied, rep.Changed, rep.TTL = true, true, s.rec.TTL
	default:
		return rep, s.mismatch(fromVals, cur.Values, "switch")
	}
	rep.Propagation, err = s.propagate(ctx, toVals, 0)
	rep.DrainUntil = rep.Propagation.endOrNow(s.now()).Add(rep.OldTTL + s.margin)
	return rep, err
}

// afterFailedReplace decides what a failed Replace means. It returns done
// true when the record holds `to` anyway (the answer was lost, or someone
// made the same change): the caller carries on. Otherwise it returns the
// error to give back, a *MismatchError with the colors filled in when the
// record changed under us.
func (s *Switcher) afterFailedReplace(ctx context.Context, err error, from, to []string, action string) (bool, error) {
	var mm *MismatchError
	if errors.As(err, &mm) {
		if sameValues(s.rec.Type, mm.Holds, to) {
			return true, nil
		}
		return false, s.mismatch(from, mm.Holds, action)
	}
	if bluegreen.ErrorCode(err) != bluegreen.EUNAVAILABLE && !errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded) {
		return false, err // a refusal: the provider answered, nothing changed
	}
	// The provider may have applied the change, possibly only after its
	// answer was lost: look for a while (a server may commit the update
	// after our timeout), even if ctx has ended.
	lctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 3*s.qtimeout)
	defer cancel()
	tick := time.NewTicker(s.poll)
	defer tick.Stop()
	for {
		vals, _, rerr := s.provider.Current(lctx, s.rec)
		if rerr == nil && sameValues(s.rec.Type, vals, to) {
			return true, nil
		}
		select {
		case <-lctx.Done():
			return false, fmt.Errorf("%w; the record still did not hold the new values %s after %s of looking, so the update most likely did not apply",
				err, formatValues(to), 3*s.qtimeout)
		case <-tick.C:
		}
	}
}

// mismatch builds the refusal for a record that holds `holds` where `want`
// was expected.
func (s *Switcher) mismatch(want, holds []string, action string) error {
	return &MismatchError{
		Name: s.rec.Name, Type: s.rec.Type,
		Want: want, Holds: canonicalSet(s.rec.Type, holds),
		Colors: s.rec.Values, Action: action,
	}
}

// PrepareReport says what Prepare did and from when a switch drains for the
// new, lower TTL only.
type PrepareReport struct {
	Name string `json:"name"`
	Type string `json:"type"`
	// Color is the color the record points at (Prepare keeps its values).
	Color  bluegreen.Color `json:"color"`
	Values []string        `json:"values"`
	// OldTTL is the TTL before, TTL the TTL now (as the provider holds it).
	OldTTL time.Duration `json:"old_ttl"`
	TTL    time.Duration `json:"ttl"`
	// Changed is false when the record had that TTL already.
	Changed     bool        `json:"changed"`
	Propagation Propagation `json:"propagation"`
	// ReadyAt is when no cache holds the record with the old TTL any more
	// (propagated + OldTTL + drain margin): a switch after it needs the old
	// color to serve only for the new TTL.
	ReadyAt time.Time `json:"ready_at,omitzero"`
}

// Prepare sets the record's TTL to ttl ahead of a planned switch, keeping
// its values, so that the switch drains quickly. The record must hold one
// color's values (else a *MismatchError, EREFUSED, changes nothing); the
// update is conditional on those values. It waits until every authoritative
// server answers the new TTL (as the provider holds it after the update),
// like Switch, with a *PropagationError on timeout (the update stands).
//
// A later Switch sets the Record's own TTL again; to keep the low TTL over
// the switch, configure the Record's TTL to it.
func (s *Switcher) Prepare(ctx context.Context, ttl time.Duration) (PrepareReport, error) {
	rep := PrepareReport{Name: s.rec.Name, Type: s.rec.Type}
	if err := checkTTL(ttl); err != nil {
		return rep, err
	}
	cur, err := s.Current(ctx)
	if err != nil {
		return rep, fmt.Errorf("reading %s %s before changing its TTL: %w", s.rec.Name, s.rec.Type, err)
	}
	rep.Color, rep.Values, rep.OldTTL, rep.TTL = cur.Color, cur.Values, cur.TTL, cur.TTL
	if cur.Color == "" {
		return rep, s.mismatch(nil, cur.Values, "change the TTL")
	}
	if cur.TTL != ttl {
		vals := s.rec.Values[cur.Color]
		if err := s.provider.Replace(ctx, s.rec, vals, vals, ttl); err != nil {
			var mm *MismatchError
			if errors.As(err, &mm) {
				return rep, s.mismatch(vals, mm.Holds, "change the TTL")
			}
			return rep, err
		}
		rep.Changed = true
		// Read back the TTL the provider keeps (some clamp it).
		now, err := s.Current(ctx)
		if err != nil {
			return rep, fmt.Errorf("reading %s %s after changing its TTL (the change was accepted): %w", s.rec.Name, s.rec.Type, err)
		}
		rep.TTL = now.TTL
	}
	rep.Propagation, err = s.propagate(ctx, cur.Values, rep.TTL)
	rep.ReadyAt = rep.Propagation.endOrNow(s.now()).Add(rep.OldTTL + s.margin)
	return rep, err
}
