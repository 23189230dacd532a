package main

import (
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/bluegreen/bluegreen"
	"github.com/bluegreen/bluegreen/internal/ghactions"
	"github.com/bluegreen/bluegreen/internal/textout"
)

func newVerifyCmd(g *globals) *cobra.Command {
	var (
		req     bluegreen.VerifyRequest
		timeout time.Duration
	)
	cmd := &cobra.Command{
		Use:   "verify <blue|green>",
		Short: "Run a color's checks against the release it runs, and record the result",
		Long: "verify runs the color's health check and its configured checks (app.checks and the color's\n" +
			"checks) against the release it runs now: HTTP checks through the preview listener for the\n" +
			"inactive color (what will serve after a switch), through the public listener for the live one;\n" +
			"command checks in the release directory with BLUEGREEN_URL and BLUEGREEN_COLOR set. The result\n" +
			"is stored against the release: switch refuses a release that has not passed. Exit 0 when every\n" +
			"check passed, 1 when one failed.",
		Args: oneColor("verify"),
		RunE: func(cmd *cobra.Command, args []string) error {
			col, err := bluegreen.ParseColor(args[0])
			if err != nil {
				return err // EINVALID: exit 2
			}
			req.Color = col
			ctx, cancel, err := withTimeout(cmd.Context(), timeout)
			if err != nil {
				return err
			}
			defer cancel()
			c, err := g.client()
			if err != nil {
				return err
			}
			var onCheck func(bluegreen.CheckResult)
			if !g.json() {
				fmt.Fprintf(g.stdout, "verifying %s ...\n", col)
				onCheck = func(r bluegreen.CheckResult) {
					mark := "ok  "
					if !r.OK {
						mark = "FAIL"
					}
					fmt.Fprintf(g.stdout, "  %s %s (%.0f ms)\n", mark, r.Name, r.DurationMS)
				}
			}
			v, err := c.Verify(ctx, req, onCheck)
			err = timedOut(ctx, timeout, err, "the server stops the checks when the CLI leaves, so expect no result: "+
				"see bluegreen status, and run bluegreen verify again with a longer --timeout")
			ran := err == nil
			if ran {
				if g.json() {
					err = writeJSON(g.stdout, v)
				} else {
					textout.Verification(g.stdout, v)
				}
			}
			if err == nil && !v.Passed {
				err = &exitError{code: exitFailed, err: fmt.Errorf("%s failed verification: %s", col, v.Reason)}
			}
			return g.reportCI(cmd.Context(), c, err, func(*bluegreen.Status) *ghactions.Report { return ghactions.VerifyReport(col, v, ran) })
		},
	}
	cmd.Flags().StringVar(&req.Reason, "reason", "", "why, for the history")
	addTimeoutFlag(cmd, &timeout)
	return cmd
}

func newApproveCmd(g *globals) *cobra.Command {
	var req bluegreen.ApproveRequest
	cmd := &cobra.Command{
		Use:   "approve <blue|green>",
		Short: "Record that you approved a color's current release (after manual QA)",
		Long: "approve records who approved the release the color runs now. With app.require_approval,\n" +
			"switch needs it; a new deploy into the color needs a new approval.",
		Args: oneColor("approve"),
		RunE: func(cmd *cobra.Command, args []string) error {
			col, err := bluegreen.ParseColor(args[0])
			if err != nil {
				return err // EINVALID: exit 2
			}
			req.Color = col
			c, err := g.client()
			if err != nil {
				return err
			}
			a, err := c.Approve(cmd.Context(), req)
			if err != nil {
				return err
			}
			if g.json() {
				return writeJSON(g.stdout, a)
			}
			fmt.Fprintf(g.stdout, "%s approved %s (%s)\n", a.By, a.Color, textout.Short(a.SHA))
			return nil
		},
	}
	cmd.Flags().StringVar(&req.Reason, "reason", "", "what was checked, for the history")
	return cmd
}
