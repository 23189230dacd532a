package main

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/bluegreen/bluegreen"
	"github.com/bluegreen/bluegreen/api"
	"github.com/bluegreen/bluegreen/internal/ghactions"
	"github.com/bluegreen/bluegreen/internal/textout"
)

func newSwitchCmd(g *globals) *cobra.Command {
	var (
		req     bluegreen.SwitchRequest
		timeout time.Duration
	)
	cmd := &cobra.Command{
		Use:   "switch <blue|green>",
		Short: "Move live traffic to a color; waits until the old color has drained",
		Long: "switch moves public traffic to the given color. The color must pass its health check and,\n" +
			"when bluegreen deployed its release, that release must have passed verification (and approval,\n" +
			"with app.require_approval); --force overrides these gates and the history records it, with who.\n" +
			"The command returns once the old color's in-flight requests have finished (or the drain deadline\n" +
			"cut them) and prints the figures. The post-switch watch then judges the new color for its window.",
		Args: oneColor("switch"),
		RunE: func(cmd *cobra.Command, args []string) error {
			to, err := bluegreen.ParseColor(args[0])
			if err != nil {
				return err // EINVALID: exit 2
			}
			req.To = to
			return runSwitch(cmd, g, "switch", req, timeout)
		},
	}
	cmd.Flags().BoolVar(&req.Force, "force", false, "switch even if the color fails its health check or has not passed verification or approval (recorded)")
	cmd.Flags().StringVar(&req.Reason, "reason", "", "why, for the history")
	addTimeoutFlag(cmd, &timeout)
	return cmd
}

func newRollbackCmd(g *globals) *cobra.Command {
	var (
		req     bluegreen.SwitchRequest
		timeout time.Duration
	)
	cmd := &cobra.Command{
		Use:   "rollback",
		Short: "Move live traffic back to the previous color",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runSwitch(cmd, g, "rollback", req, timeout)
		},
	}
	cmd.Flags().BoolVar(&req.Force, "force", false, "roll back even if the previous color fails its health check (recorded)")
	cmd.Flags().StringVar(&req.Reason, "reason", "", "why, for the history")
	addTimeoutFlag(cmd, &timeout)
	return cmd
}

// runSwitch runs a switch or a rollback (verb), prints the result and
// reports it to GitHub Actions. On a terminal it shows the progress on
// stderr (live after N ms, then the drain's in-flight counts). If the
// connection ends after the request was sent, it asks the server what was
// committed (api.Client.RecoverSwitch) instead of failing blind.
func runSwitch(cmd *cobra.Command, g *globals, verb string, req bluegreen.SwitchRequest, timeout time.Duration) error {
	ctx, cancel, err := withTimeout(cmd.Context(), timeout)
	if err != nil {
		return err
	}
	defer cancel()
	c, err := g.client()
	if err != nil {
		return err
	}
	var res bluegreen.SwitchResult
	// The newest event before the request: what the request committed, if
	// its answer is lost, is recorded after it.
	mark, err := c.NewestEventID(ctx)
	var live *bluegreen.SwitchProgress
	if err == nil {
		if isTerminal(g.stderr) {
			req.Progress = func(p bluegreen.SwitchProgress) {
				if p.Stage == bluegreen.SwitchLive {
					live = &p
				}
				printSwitchProgress(g, p)
			}
		}
		if verb == "rollback" {
			res, err = c.Rollback(ctx, req)
		} else {
			res, err = c.Switch(ctx, req)
		}
	}
	unknown := false
	if errors.Is(err, api.ErrNoAnswer) && ctx.Err() == nil {
		res, err = c.RecoverSwitch(ctx, verb, req, mark, live, err, g.stderr)
		unknown = err == nil
	}
	err = timedOut(ctx, timeout, err,
		"the "+verb+" may still be running on the server (it is never abandoned half way): see bluegreen status")
	if err == nil {
		err = printSwitch(g, res, unknown)
	}
	return g.reportCI(cmd.Context(), c, err, func(st *bluegreen.Status) *ghactions.Report { return ghactions.SwitchReport(verb, req, res, st) })
}

// printSwitchProgress prints a step of a switch on stderr.
func printSwitchProgress(g *globals, p bluegreen.SwitchProgress) {
	switch p.Stage {
	case bluegreen.SwitchLive:
		fmt.Fprintf(g.stderr, "live on %s after %.2f ms (revision %d); %s has %d in flight, draining ...\n",
			p.To, p.SwitchMS, p.Revision, p.From, p.InFlight)
	case bluegreen.SwitchDraining:
		fmt.Fprintf(g.stderr, "  %s draining: %d in flight after %.1f s\n", p.From, p.InFlight, p.DrainMS/1000)
	}
}

// printSwitch prints the result of a switch. unknown says its figures are
// unknown (the answer was lost; RecoverSwitch learnt the outcome from the
// history): only the colors, the revision and the message are known.
func printSwitch(g *globals, res bluegreen.SwitchResult, unknown bool) error {
	if g.json() {
		return writeJSON(g.stdout, struct {
			bluegreen.SwitchResult
			FiguresUnknown bool `json:"figures_unknown,omitempty"`
		}{res, unknown})
	}
	if !res.Changed || unknown {
		fmt.Fprintln(g.stdout, res.Message)
		return nil
	}
	verb := "switched"
	if res.Rollback {
		verb = "rolled back"
	}
	forced := ""
	if res.Forced {
		forced = " (forced)"
	}
	fmt.Fprintf(g.stdout, "%s %s → %s%s: live on %s %.2f ms after the request (health check %.2f ms, commit %.2f ms, on disk %.2f ms after the swap; revision %d)\n",
		verb, res.From, res.To, forced, res.To, res.SwitchMS, res.CheckMS, res.CommitMS, res.SyncMS, res.Revision)
	if res.DNS != nil {
		textout.DNSReport(g.stdout, res.DNS)
	}
	for _, gate := range res.ForcedGates {
		fmt.Fprintf(g.stdout, "forced past: %s\n", gate)
	}
	if r := res.Routers; r != nil {
		fmt.Fprintf(g.stdout, "%d router(s) serve %s (%s) within %.1f ms of each other, confirmed after %.1f ms\n",
			len(r.Acked), res.To, strings.Join(r.Acked, ", "), r.SpreadMS, r.WaitMS)
		if len(r.Missing) > 0 {
			fmt.Fprintf(g.stdout, "NOT confirmed by %s: they serve %s once they reach the state store (see bluegreen status)\n",
				strings.Join(r.Missing, ", "), res.To)
		}
	}
	d := res.Drain
	fmt.Fprintf(g.stdout, "%s drained in %.1f ms: %d in flight at the swap, %d finished, %d cut at the %.0fs deadline\n",
		res.From, d.DurationMS, d.InFlight, d.Finished, d.Cancelled, d.TimeoutMS/1000)
	if w := res.Watch; w != nil {
		fmt.Fprintf(g.stdout, "watching %s until %s; %s keeps running for an instant rollback (bluegreen status shows the figures)\n",
			w.Color, textout.Stamp(w.Until), w.Previous)
	}
	return nil
}
