package api

import (
	"context"
	"fmt"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/bluegreen/bluegreen"
)

// HandOverStarted answers POST /v1/handover: serve (process PID) has
// started a hand-over to a new serve. How it ends is in the history (action
// serve): "serve (pid PID) handed over to pid N", or "hand-over to a new
// serve refused|failed; this serve (pid PID) carries on: why".
type HandOverStarted struct {
	PID     int    `json:"pid"`
	AfterID int64  `json:"after_id"` // the newest serve event before the request: the outcome comes after it
	Message string `json:"message"`
}

// handOver starts a hand-over (admin): the same as SIGUSR2 to serve.
func (s *server) handOver(w http.ResponseWriter, r *http.Request) error {
	if s.handOverFn == nil {
		return bluegreen.Errorf(bluegreen.EINVALID, "this server does not hand over (a serve embedded in another program, such as the demo)")
	}
	last, err := s.svc.History(r.Context(), bluegreen.HistoryFilter{Action: bluegreen.ActionServe, Limit: 1})
	if err != nil {
		return err
	}
	var after int64
	if len(last) > 0 {
		after = last[0].ID
	}
	pid, err := s.handOverFn()
	if err != nil {
		return err
	}
	s.record(bluegreen.Event{Time: s.now(), Actor: actorOf(r), Action: bluegreen.ActionServe, Outcome: bluegreen.OutcomeOK,
		Message: "hand-over to a new serve asked for through the API"})
	writeJSON(w, http.StatusAccepted, HandOverStarted{PID: pid, AfterID: after,
		Message: "hand-over started; the history (action serve) says how it ends"})
	return nil
}

// HandOver asks serve to hand over to a new serve (admin); it returns when
// the hand-over has started. Follow it in the history (action serve), after
// the returned AfterID.
func (c *Client) HandOver(ctx context.Context) (HandOverStarted, error) {
	var out HandOverStarted
	err := c.do(ctx, http.MethodPost, "/v1/handover", struct{}{}, &out)
	return out, err
}

// HandOverResult is how a hand-over ended, as FollowHandOver learns it
// from the history (and what `bluegreen handover -o json` prints).
type HandOverResult struct {
	Outcome bluegreen.Outcome `json:"outcome"` // ok, refused or failed
	FromPID int               `json:"from_pid"`
	ToPID   int               `json:"to_pid,omitempty"`
	Message string            `json:"message"`
}

var handedOverRe = regexp.MustCompile(`^serve \(pid (\d+)\) handed over to pid (\d+)`)

// FollowHandOver reads serve's events after started.AfterID until one says
// how the hand-over of serve started.PID ended. The API moves to the new
// serve meanwhile: a call that fails then is tried again, until ctx ends.
func (c *Client) FollowHandOver(ctx context.Context, started HandOverStarted) (HandOverResult, error) {
	carriesOn := fmt.Sprintf("; this serve (pid %d) carries on", started.PID)
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		evs, err := c.History(ctx, bluegreen.HistoryFilter{Action: bluegreen.ActionServe, Limit: 50})
		if err == nil {
			for i := len(evs) - 1; i >= 0; i-- { // oldest first
				ev := evs[i]
				if ev.ID <= started.AfterID {
					continue
				}
				if m := handedOverRe.FindStringSubmatch(ev.Message); m != nil && m[1] == strconv.Itoa(started.PID) {
					to, _ := strconv.Atoi(m[2])
					return HandOverResult{Outcome: bluegreen.OutcomeOK, FromPID: started.PID, ToPID: to, Message: ev.Message}, nil
				}
				if strings.HasPrefix(ev.Message, "hand-over to a new serve") && strings.Contains(ev.Message, carriesOn) {
					return HandOverResult{Outcome: ev.Outcome, FromPID: started.PID, Message: ev.Message}, nil
				}
			}
		}
		select {
		case <-ctx.Done():
			if err == nil {
				err = ctx.Err()
			}
			return HandOverResult{}, err
		case <-tick.C:
		}
	}
}
