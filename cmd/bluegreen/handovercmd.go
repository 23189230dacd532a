package main

import (
	"context"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/bluegreen/bluegreen"
)

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
			res, err := c.FollowHandOver(ctx, started)
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
