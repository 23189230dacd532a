package main

import (
	"context"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/bluegreen/bluegreen"
	"github.com/bluegreen/bluegreen/api"
)

// handOverResult is what `bluegreen handover` reports.
type handOverResult struct {
	Outcome bluegreen.Outcome `json:"outcome"` // ok, refused or failed
	FromPID int               `json:"from_pid"`
	ToPID   int               `json:"to_pid,omitempty"`
	Message string            `json:"message"`
}

func newHandOverCmd(g *globals) *cobra.Command {
	var timeout time.Duration
	cmd := &cobra.Command{
		Use:   "handover",
		Short: "Hand serve over to a new serve on the same sockets: an upgrade without downtime (admin)",
		Long: "handover does what SIGUSR2 to serve does, through the API: serve starts the binary now at its path on\n" +
			"its listening sockets and steps aside once the new one serves (see docs/operations.md, \"Upgrading\n" +
			"serve without downtime\"). It waits until the history says how it ended: exit 0 when it was handed over, 1 when it\n" +
			"was refused or the new serve failed (the old one carries on), 3 when --timeout passed first.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := g.client()
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			if timeout > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, timeout)
				defer cancel()
			}
			started, err := c.HandOver(ctx)
			if err != nil {
				return err
			}
			res, err := followHandOver(ctx, c, started)
			if err != nil {
				return timedOut(ctx, timeout, err, "bluegreen history --action serve says how it ends")
			}
			if g.json() {
				if err := writeJSON(g.stdout, res); err != nil {
					return err
				}
			} else if res.Outcome == bluegreen.OutcomeOK {
				fmt.Fprintf(g.stdout, "handed over: serve pid %d → pid %d\n", res.FromPID, res.ToPID)
			}
			if res.Outcome != bluegreen.OutcomeOK {
				return &exitError{code: exitFailed, err: fmt.Errorf("%s", res.Message)}
			}
			return nil
		},
	}
	cmd.Flags().DurationVar(&timeout, "timeout", 2*time.Minute, "give up waiting after this long (exit 3); 0 waits as long as it takes")
	return cmd
}

var handedOverRe = regexp.MustCompile(`^serve \(pid (\d+)\) handed over to pid (\d+)`)

// followHandOver reads serve's events after started.AfterID until one says
// how the hand-over of serve started.PID ended. The API moves to the new
// serve meanwhile: a call that fails then is tried again, until ctx ends.
func followHandOver(ctx context.Context, c *api.Client, started api.HandOverStarted) (handOverResult, error) {
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
					return handOverResult{Outcome: bluegreen.OutcomeOK, FromPID: started.PID, ToPID: to, Message: ev.Message}, nil
				}
				if strings.HasPrefix(ev.Message, "hand-over to a new serve") && strings.Contains(ev.Message, carriesOn) {
					return handOverResult{Outcome: ev.Outcome, FromPID: started.PID, Message: ev.Message}, nil
				}
			}
		}
		select {
		case <-ctx.Done():
			if err == nil {
				err = ctx.Err()
			}
			return handOverResult{}, err
		case <-tick.C:
		}
	}
}
