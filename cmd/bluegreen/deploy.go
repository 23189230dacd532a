package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/bluegreen/bluegreen"
	"github.com/bluegreen/bluegreen/internal/ghactions"
	"github.com/bluegreen/bluegreen/internal/textout"
)

func newDeployCmd(g *globals) *cobra.Command {
	var (
		req     bluegreen.DeployRequest
		timeout time.Duration
	)
	cmd := &cobra.Command{
		Use:   "deploy <blue|green>",
		Short: "Deploy a git ref (default: the color's branch) into the inactive color",
		Long: "deploy fetches the ref, checks it out into a new release directory, runs the build steps,\n" +
			"restarts the color's app on it and waits for its health check, printing each step as it\n" +
			"happens. The live color is refused and never touched. Exit 0 when the release is up, 1 when it failed.",
		Args: oneColor("deploy"),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := bluegreen.ParseColor(args[0])
			if err != nil {
				return err // EINVALID: exit 2
			}
			req.Color = c
			return runDeploy(cmd, g, req, timeout)
		},
	}
	cmd.Flags().StringVar(&req.Ref, "ref", "", "branch, tag or commit to deploy (default: the color's branch)")
	cmd.Flags().BoolVar(&req.Detach, "detach", false, "return at once with the deployment id (follow it with: bluegreen deployments show ID --follow)")
	cmd.Flags().StringVar(&req.Reason, "reason", "", "why, for the history")
	addTimeoutFlag(cmd, &timeout)
	return cmd
}

func newSyncCmd(g *globals) *cobra.Command {
	var (
		req     bluegreen.DeployRequest
		timeout time.Duration
	)
	cmd := &cobra.Command{
		Use:   "sync",
		Short: "Deploy the live color's exact commit into the inactive color",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			req.Sync = true
			return runDeploy(cmd, g, req, timeout)
		},
	}
	cmd.Flags().StringVar(&req.Reason, "reason", "", "why, for the history")
	addTimeoutFlag(cmd, &timeout)
	return cmd
}

func runDeploy(cmd *cobra.Command, g *globals, req bluegreen.DeployRequest, timeout time.Duration) error {
	ctx, cancel, err := withTimeout(cmd.Context(), timeout)
	if err != nil {
		return err
	}
	defer cancel()
	c, err := g.client()
	if err != nil {
		return err
	}
	var d bluegreen.Deployment
	if req.Detach {
		d, err = c.DeployDetached(ctx, req)
		err = timedOut(ctx, timeout, err, "the deployment may have started: see bluegreen status / deployments show ID")
		if err == nil {
			if g.json() {
				err = writeJSON(g.stdout, d)
			} else {
				fmt.Fprintf(g.stdout, "deployment %s started: %s ref %s\nfollow it: bluegreen deployments show %s --follow\n",
					d.ID, d.Color, d.Ref, d.ID)
			}
		}
		return g.reportCI(cmd.Context(), c, err, func(st *bluegreen.Status) *ghactions.Report { return ghactions.DeployReport(req, d, st) })
	}
	var progress func(bluegreen.Progress)
	if !g.json() {
		progress = func(p bluegreen.Progress) { printProgress(g, p) }
	}
	d, err = c.Deploy(ctx, req, progress)
	if err != nil && errors.Is(ctx.Err(), context.DeadlineExceeded) {
		err = timedOut(ctx, timeout, err, deployTimeoutHint(cmd.Context(), c, req))
	}
	if g.json() && d.ID != "" {
		_ = writeJSON(g.stdout, d)
	}
	if !g.json() && d.Verification != nil {
		textout.Verification(g.stdout, *d.Verification)
	}
	if err == nil && !g.json() {
		fmt.Fprintf(g.stdout, "deployed %s (%s) into %s in %s\n", d.Ref, textout.Short(d.SHA), d.Color,
			d.Ended.Sub(d.Started).Round(time.Millisecond))
		if d.Promoted {
			fmt.Fprintf(g.stdout, "promotion: auto: %s is live\n", d.Color)
		}
	}
	return g.reportCI(cmd.Context(), c, err, func(st *bluegreen.Status) *ghactions.Report { return ghactions.DeployReport(req, d, st) })
}

func printProgress(g *globals, p bluegreen.Progress) {
	fmt.Fprintf(g.stdout, "[%6.1fs] %-16s %s\n", p.ElapsedMS/1000, p.Step, p.Line)
}

func newDeploymentsCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "deployments", Short: "Look at deployments"}
	var (
		follow      bool
		showTimeout time.Duration
	)
	show := &cobra.Command{
		Use:   "show <id>",
		Short: "Show a deployment and its progress (--follow: until it ends; exit 1 if it failed)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx, cancel, err := withTimeout(cmd.Context(), showTimeout)
			if err != nil {
				return err
			}
			defer cancel()
			c, err := g.client()
			if err != nil {
				return err
			}
			from := 0
			for {
				v, err := c.Deployment(ctx, args[0], from)
				if err != nil {
					return timedOut(ctx, showTimeout, err, "deployment "+args[0]+" is still running on the server")
				}
				from += len(v.Progress)
				if !g.json() {
					for _, p := range v.Progress {
						printProgress(g, p)
					}
				}
				d := v.Deployment
				if !follow || (d.Status != bluegreen.DeploymentRunning && d.Promotion != bluegreen.PromotionPending) {
					if g.json() {
						return writeJSON(g.stdout, v)
					}
					fmt.Fprintf(g.stdout, "deployment %s: %s ref %s (%s) by %s: %s", d.ID, d.Color, d.Ref, textout.Short(d.SHA), d.Actor, d.Status)
					if d.Error != "" {
						fmt.Fprintf(g.stdout, ": %s", d.Error)
					}
					fmt.Fprintln(g.stdout)
					if d.Status == bluegreen.DeploymentFailed || d.Status == bluegreen.DeploymentInterrupted {
						return &exitError{code: exitFailed, err: fmt.Errorf("deployment %s %s", d.ID, d.Status)}
					}
					if d.Promotion != "" {
						fmt.Fprintf(g.stdout, "promotion: auto: %s", d.Promotion)
						if d.PromotionError != "" {
							fmt.Fprintf(g.stdout, ": %s", d.PromotionError)
						}
						fmt.Fprintln(g.stdout)
					}
					if d.Promotion == bluegreen.PromotionRefused || d.Promotion == bluegreen.PromotionInterrupted {
						return &exitError{code: exitFailed, err: fmt.Errorf("deployment %s succeeded but its automatic switch %s", d.ID, d.Promotion)}
					}
					return nil
				}
				select {
				case <-ctx.Done():
					return timedOut(ctx, showTimeout, ctx.Err(), "deployment "+args[0]+" is still running on the server")
				case <-time.After(300 * time.Millisecond):
				}
			}
		},
	}
	show.Flags().BoolVarP(&follow, "follow", "f", false, "wait until the deployment ends, printing its progress")
	addTimeoutFlag(show, &showTimeout)
	cmd.AddCommand(show)
	return cmd
}

func newLogsCmd(g *globals) *cobra.Command {
	var lines int
	var host string
	var follow bool
	cmd := &cobra.Command{
		Use:   "logs <blue|green>",
		Short: "Print the last lines of a color's app output (process driver; --host for one host's agent)",
		Args:  oneColor("logs"),
		RunE: func(cmd *cobra.Command, args []string) error {
			col, err := bluegreen.ParseColor(args[0])
			if err != nil {
				return err // EINVALID: exit 2
			}
			c, err := g.client()
			if err != nil {
				return err
			}
			if follow && g.json() {
				return usageErrorf("logs --follow prints text: drop -o json")
			}
			fetch := func(n int) ([]string, error) {
				if host != "" {
					return c.HostLog(cmd.Context(), col, host, n)
				}
				return c.AppLog(cmd.Context(), col, n)
			}
			out, err := fetch(lines)
			if err != nil {
				return err
			}
			if g.json() {
				return writeJSON(g.stdout, map[string]any{"color": col, "lines": out})
			}
			for next := out; ; {
				for _, l := range next {
					fmt.Fprintln(g.stdout, l)
				}
				if !follow {
					return nil
				}
				select {
				case <-cmd.Context().Done():
					return nil
				case <-time.After(time.Second):
				}
				window, err := fetch(bluegreen.AgentLogLines)
				if err != nil {
					return err
				}
				next, out = textout.NewLines(out, window), window
			}
		},
	}
	cmd.Flags().IntVarP(&lines, "lines", "n", 100, "how many lines")
	cmd.Flags().StringVar(&host, "host", "", "one of the color's hosts: its app's output as its agent last reported it")
	cmd.Flags().BoolVarP(&follow, "follow", "f", false, "keep printing new lines (every second) until interrupted")
	return cmd
}
