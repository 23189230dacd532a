package main

import (
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/bluegreen/bluegreen"
)

func newDeployCmd(g *globals) *cobra.Command {
	var req bluegreen.DeployRequest
	cmd := &cobra.Command{
		Use:   "deploy <blue|green>",
		Short: "Deploy a git ref (default: the color's branch) into the inactive color",
		Long: "deploy fetches the ref, checks it out into a new release directory, runs the build steps,\n" +
			"restarts the color's app on it and waits for its health check, printing each step as it\n" +
			"happens. The live color is refused and never touched. Exit 0 when the release is up, 1 when it failed.",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := bluegreen.ParseColor(args[0])
			if err != nil {
				return &exitError{code: exitUsage, err: err}
			}
			req.Color = c
			return runDeploy(cmd, g, req)
		},
	}
	cmd.Flags().StringVar(&req.Ref, "ref", "", "branch, tag or commit to deploy (default: the color's branch)")
	cmd.Flags().StringVar(&req.Reason, "reason", "", "why, for the history")
	return cmd
}

func newSyncCmd(g *globals) *cobra.Command {
	var req bluegreen.DeployRequest
	cmd := &cobra.Command{
		Use:   "sync",
		Short: "Deploy the live color's exact commit into the inactive color",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			req.Sync = true
			return runDeploy(cmd, g, req)
		},
	}
	cmd.Flags().StringVar(&req.Reason, "reason", "", "why, for the history")
	return cmd
}

func runDeploy(cmd *cobra.Command, g *globals, req bluegreen.DeployRequest) error {
	c, err := g.client()
	if err != nil {
		return err
	}
	var progress func(bluegreen.Progress)
	if !g.json() {
		progress = func(p bluegreen.Progress) {
			fmt.Fprintf(g.stdout, "[%6.1fs] %-16s %s\n", p.ElapsedMS/1000, p.Step, p.Line)
		}
	}
	d, err := c.Deploy(cmd.Context(), req, progress)
	if g.json() && d.ID != "" {
		_ = writeJSON(g.stdout, d)
	}
	if err != nil {
		return err
	}
	if !g.json() {
		fmt.Fprintf(g.stdout, "deployed %s (%s) into %s in %s\n", d.Ref, short(d.SHA), d.Color,
			d.Ended.Sub(d.Started).Round(time.Millisecond))
	}
	return nil
}
