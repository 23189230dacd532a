package main

// The --timeout of the long verbs.

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/bluegreen/bluegreen"
	"github.com/bluegreen/bluegreen/api"
)

// addTimeoutFlag adds --timeout to a long verb.
func addTimeoutFlag(cmd *cobra.Command, d *time.Duration) {
	cmd.Flags().DurationVar(d, "timeout", 0,
		"give up waiting after this long (e.g. 10m) and exit 3; the operation may go on on the server (0: wait as long as it takes)")
}

// withTimeout returns ctx bounded by d (unbounded when d is 0), or a usage
// error for a negative d.
func withTimeout(ctx context.Context, d time.Duration) (context.Context, context.CancelFunc, error) {
	if d < 0 {
		return nil, nil, usageErrorf("--timeout %s: want a positive duration such as 10m, or 0 for none", d)
	}
	if d == 0 {
		ctx, cancel := context.WithCancel(ctx)
		return ctx, cancel, nil
	}
	ctx, cancel := context.WithTimeout(ctx, d)
	return ctx, cancel, nil
}

// timedOut turns err into an exit-3 error when ctx's --timeout of d expired
// (and not the parent's context: an interrupt is not a timeout). next says
// where the operation can be followed.
func timedOut(ctx context.Context, d time.Duration, err error, next string) error {
	if err == nil || d <= 0 || !errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return err
	}
	return &exitError{code: exitTimeout, err: bluegreen.Errorf(bluegreen.EUNAVAILABLE,
		"timed out after %s; %s", shortDuration(d), next)}
}

// shortDuration prints 5m0s as 5m and 1h0m0s as 1h.
func shortDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

// deployTimeoutHint says where a deploy that timed out can be followed: its
// deployment id when the status knows it.
func deployTimeoutHint(ctx context.Context, c *api.Client, req bluegreen.DeployRequest) string {
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if st, err := c.Status(sctx); err == nil {
		color := req.Color
		if req.Sync {
			color = st.State.Inactive()
		}
		if d := st.State.Colors[color].Deployment; d != nil && d.Status == bluegreen.DeploymentRunning {
			return fmt.Sprintf("deployment %s into %s may still be running on the server: follow it with bluegreen deployments show %s --follow",
				d.ID, color, d.ID)
		}
	}
	return "the operation may still be running on the server: see bluegreen status / deployments show ID"
}
