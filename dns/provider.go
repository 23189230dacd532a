package dns

import (
	"context"
	"fmt"
	"time"

	"github.com/bluegreen/bluegreen"
)

// Provider reads and changes one record at a DNS provider (an RFC 2136
// primary server, a DNS hosting API). Implementations must be safe for
// concurrent use and must never put a credential in an error or a log.
type Provider interface {
	// Current returns the values r's name and type hold at the provider now
	// (canonical text as Record.Normalize writes them, in any order; none
	// when the record does not exist, which is not an error) and their TTL.
	Current(ctx context.Context, r Record) (values []string, ttl time.Duration, err error)

	// Replace sets r's name and type to hold exactly `to` with TTL ttl, but
	// only if they hold exactly `from` (in any order) now. When they do not,
	// it changes nothing and returns a *MismatchError saying what they hold.
	// Providers whose API cannot make the change conditional read, compare,
	// then write, and say so in their doc: a change made by someone else
	// between the read and the write is overwritten.
	//
	// An error other than a *MismatchError leaves the outcome unknown when
	// the provider was reached (the change may have been applied): callers
	// read Current to find out.
	Replace(ctx context.Context, r Record, from, to []string, ttl time.Duration) error
}

// MismatchError says that a record does not hold the values a change was
// conditional on: someone changed it (by hand, or another bluegreen), or it
// was never what the configuration says.
//
// It unwraps to an EREFUSED *bluegreen.Error with the same message, so that
// bluegreen.ErrorCode and ErrorMessage work on it.
type MismatchError struct {
	// Name and Type identify the record.
	Name, Type string
	// Want is what the change expected the record to hold.
	Want []string
	// Holds is what the record holds (nil: the record does not exist).
	Holds []string
	// Colors, when set (the Switcher sets it), are the values of each
	// color; the message then names the color Want and Holds belong to.
	Colors map[bluegreen.Color][]string
	// Action, when set, is what was refused ("switch", "change the TTL");
	// the message then ends with "refusing to <Action>".
	Action string
}

// Error says what the record holds, against what was expected.
func (e *MismatchError) Error() string {
	var msg string
	switch {
	case e.Colors == nil:
		msg = fmt.Sprintf("%s %s holds %s where %s was expected", e.Name, e.Type, formatValues(e.Holds), formatValues(e.Want))
	case e.colorOf(e.Holds) == "":
		hint := "changed by hand?"
		if len(e.Holds) == 0 {
			hint = "deleted by hand?"
		}
		msg = fmt.Sprintf("%s %s holds %s, which is neither blue (%s) nor green (%s): %s",
			e.Name, e.Type, formatValues(e.Holds), formatValues(e.Colors[bluegreen.Blue]), formatValues(e.Colors[bluegreen.Green]), hint)
	default:
		holds, want := e.colorOf(e.Holds), e.colorOf(e.Want)
		if want == "" {
			msg = fmt.Sprintf("%s %s holds %s (%s) where %s was expected: changed concurrently?",
				e.Name, e.Type, holds, formatValues(e.Holds), formatValues(e.Want))
		} else {
			msg = fmt.Sprintf("%s %s holds %s (%s) where %s (%s) was expected: changed concurrently?",
				e.Name, e.Type, holds, formatValues(e.Holds), want, formatValues(e.Want))
		}
	}
	if e.Action != "" {
		msg += " refusing to " + e.Action
	}
	return msg
}

// Unwrap returns the EREFUSED domain error carrying the same message.
func (e *MismatchError) Unwrap() error { return bluegreen.Errorf(bluegreen.EREFUSED, "%s", e.Error()) }

func (e *MismatchError) colorOf(vals []string) bluegreen.Color {
	r := Record{Values: e.Colors}
	return r.ColorOf(canonicalSet(e.Type, vals))
}
