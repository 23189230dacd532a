package api

// What a CLI does when a switch's or rollback's answer is lost: the server
// may have committed it just before the connection dropped.

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/bluegreen/bluegreen"
)

// How long RecoverSwitch asks: the server may be restarting (systemd, a
// supervisor) after it died with the answer.
const (
	recoverFor       = 30 * time.Second // in all, while the server cannot be reached
	recoverSettle    = 3 * time.Second  // once it answers, for the operation's event to appear
	recoverFirstWait = 100 * time.Millisecond
	recoverMaxWait   = 2 * time.Second
	recoverForText   = "30s" // recoverFor, as messages say it
)

// NewestEventID returns the ID of the newest event in the history (0 when
// there is none): the mark RecoverSwitch looks after.
func (c *Client) NewestEventID(ctx context.Context) (int64, error) {
	evs, err := c.History(ctx, bluegreen.HistoryFilter{Limit: 1})
	if err != nil || len(evs) == 0 {
		return 0, err
	}
	return evs[0].ID, nil
}

// RecoverSwitch finds out what became of a switch or rollback (verb) whose
// answer was lost (cause wraps ErrNoAnswer): the server may have
// committed it just before it died or the connection dropped. With the
// "live" progress line seen, it was committed. Otherwise it asks the
// history, with backoff, for the operation's event after mark made by this
// CLI's actor: committed (nil error; the result has the colors and the
// revision, the figures are unknown), refused or failed (its message), or
// none (not committed). If the server cannot be reached for recoverFor,
// the outcome is unknown and says so. It says on notice that it is asking.
func (c *Client) RecoverSwitch(ctx context.Context, verb string, req bluegreen.SwitchRequest, mark int64,
	live *bluegreen.SwitchProgress, cause error, notice io.Writer) (bluegreen.SwitchResult, error) {
	if live != nil {
		return bluegreen.SwitchResult{From: live.From, To: live.To, Changed: true, Rollback: verb == "rollback",
			Revision: live.Revision, SwitchMS: live.SwitchMS,
			Message: fmt.Sprintf("%s %s → %s: committed, live on %s %.2f ms after the request (revision %d); the connection ended during the drain (%s), so the drain figures are unknown: see bluegreen status and history",
				pastTense(verb), live.From, live.To, live.To, live.SwitchMS, live.Revision, bluegreen.ErrorMessage(cause))}, nil
	}
	action := bluegreen.ActionSwitch
	if verb == "rollback" {
		action = bluegreen.ActionRollback
	}
	me := CleanActor(c.Actor)
	fmt.Fprintf(notice, "bluegreen: the connection ended before the %s's answer (%s); asking the server what it committed ...\n",
		verb, bluegreen.ErrorMessage(cause))
	start, wait := time.Now(), recoverFirstWait
	var reached time.Time
	for {
		evs, err := c.History(ctx, bluegreen.HistoryFilter{Action: action, Limit: 100})
		if err == nil {
			if reached.IsZero() {
				reached = time.Now()
			}
			// Oldest first: the first event of ours after the mark is the
			// outcome of this request.
			for i := len(evs) - 1; i >= 0; i-- {
				ev := evs[i]
				if ev.ID <= mark || ev.Actor != me && !(me == "" && strings.HasPrefix(ev.Actor, "api@")) {
					continue // (an actor that cleans to nothing is recorded as api@ and the address)
				}
				if ev.Outcome != bluegreen.OutcomeOK {
					return bluegreen.SwitchResult{}, bluegreen.Errorf(bluegreen.EREFUSED,
						"the connection ended before the answer; the server recorded: %s", ev.Message)
				}
				from, _ := ev.Details["from"].(string)
				return bluegreen.SwitchResult{From: bluegreen.Color(from), To: ev.Color, Changed: true,
					Rollback: verb == "rollback", Revision: ev.Revision,
					Message: fmt.Sprintf("%s %s → %s: committed (revision %d, at %s), but the connection ended before the answer (%s), so its figures (switch time, drain) are unknown: see bluegreen status and history",
						pastTense(verb), from, ev.Color, ev.Revision, localStamp(ev.Time), bluegreen.ErrorMessage(cause))}, nil
			}
			if time.Since(reached) >= recoverSettle {
				return c.notCommitted(ctx, verb, req, cause)
			}
		} else if time.Since(start) >= recoverFor {
			return bluegreen.SwitchResult{}, bluegreen.Errorf(bluegreen.EUNAVAILABLE,
				"the connection ended after the server took the %s (%s), and it has not answered since (%s): whether the %s was committed is unknown; see bluegreen status when it is back (last error: %s)",
				verb, bluegreen.ErrorMessage(cause), recoverForText, verb, bluegreen.ErrorMessage(err))
		}
		select {
		case <-ctx.Done():
			return bluegreen.SwitchResult{}, fmt.Errorf("asking what the %s committed: %w", verb, ctx.Err())
		case <-time.After(wait):
		}
		wait = min(2*wait, recoverMaxWait)
	}
}

// notCommitted is the outcome when the history has no event of the
// request: nothing was committed. A switch to the color that is live
// anyway needed nothing, as when the server says so.
func (c *Client) notCommitted(ctx context.Context, verb string, req bluegreen.SwitchRequest, cause error) (bluegreen.SwitchResult, error) {
	live, err := c.Color(ctx)
	if err == nil && verb == "switch" && live == req.To {
		return bluegreen.SwitchResult{From: live, To: live,
			Message: fmt.Sprintf("%s is live; no switch by you was recorded (the connection ended before the answer: %s)", live, bluegreen.ErrorMessage(cause))}, nil
	}
	where := ""
	if err == nil {
		where = fmt.Sprintf("; %s is live", live)
	}
	return bluegreen.SwitchResult{}, bluegreen.Errorf(bluegreen.EUNAVAILABLE,
		"the connection ended before the %s's answer (%s), and the server recorded no %s by you after it: it was not committed%s",
		verb, bluegreen.ErrorMessage(cause), verb, where)
}

// pastTense is verb done: "switched", "rolled back".
func pastTense(verb string) string {
	if verb == "rollback" {
		return "rolled back"
	}
	return "switched"
}

// localStamp is t in local time to the second, as the CLI prints times
// ("-" for none).
func localStamp(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.Local().Format("2006-01-02 15:04:05")
}
