package main

import (
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/bluegreen/bluegreen"
	"github.com/bluegreen/bluegreen/internal/textout"
)

func newHistoryCmd(g *globals) *cobra.Command {
	var (
		f            bluegreen.HistoryFilter
		color        string
		since, until string
		asJSON       bool
	)
	cmd := &cobra.Command{
		Use:   "history",
		Short: "Show the event history, newest first",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if color != "" {
				c, err := bluegreen.ParseColor(color)
				if err != nil {
					return err // EINVALID: exit 2
				}
				f.Color = c
			}
			var err error
			if f.Since, err = parseWhen(since, time.Now()); err != nil {
				return usageErrorf("--since: %v", err)
			}
			if f.Until, err = parseWhen(until, time.Now()); err != nil {
				return usageErrorf("--until: %v", err)
			}
			if !f.Since.IsZero() && !f.Until.IsZero() && !f.Since.Before(f.Until) {
				return usageErrorf("--since %s is not before --until %s: no event can match", since, until)
			}
			switch f.Outcome {
			case "", bluegreen.OutcomeOK, bluegreen.OutcomeRefused, bluegreen.OutcomeFailed:
			default:
				return usageErrorf("--outcome %q: want ok, refused or failed", f.Outcome)
			}
			if f.Limit < 1 || f.Limit > 10000 {
				return usageErrorf("--limit %d: want 1 to 10000", f.Limit)
			}
			c, err := g.client()
			if err != nil {
				return err
			}
			evs, err := c.History(cmd.Context(), f)
			if err != nil {
				return err
			}
			if asJSON || g.json() {
				return writeJSON(g.stdout, evs)
			}
			tw := tabwriter.NewWriter(g.stdout, 0, 0, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tTIME\tACTOR\tACTION\tCOLOR\tOUTCOME\tMESSAGE")
			for _, e := range evs {
				col := string(e.Color)
				if col == "" {
					col = "-"
				}
				actor := e.Actor
				if tok, _ := e.Details["token"].(string); tok != "" && tok != actor {
					actor += " (token " + tok + ")"
				}
				msg := e.Message
				if run, _ := e.Details["run_url"].(string); run != "" {
					msg += " [" + run + "]"
				}
				fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s\n", e.ID, textout.Stamp(e.Time), actor, e.Action, col, e.Outcome, msg)
			}
			return tw.Flush()
		},
	}
	cmd.Flags().IntVar(&f.Limit, "limit", 20, "how many events, 1 to 10000")
	cmd.Flags().StringVar(&color, "color", "", "only events about this color")
	cmd.Flags().StringVar((*string)(&f.Action), "action", "", "only this action (switch, rollback, drain, health, ...)")
	cmd.Flags().StringVar(&f.Actor, "actor", "", "only this actor")
	cmd.Flags().StringVar((*string)(&f.Outcome), "outcome", "", "only this outcome (ok, refused, failed)")
	cmd.Flags().StringVar(&since, "since", "", "only events since this time: RFC 3339 (2026-11-25T10:00:00Z) or a duration ago (2h)")
	cmd.Flags().StringVar(&until, "until", "", "only events before this time (same forms)")
	cmd.Flags().BoolVar(&asJSON, "json", false, "JSON output (same as --output json)")
	return cmd
}

// parseWhen reads a time for --since/--until: RFC 3339, or a duration
// meaning that long before now; "" is the zero time.
func parseWhen(s string, now time.Time) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	if d, err := time.ParseDuration(s); err == nil && d > 0 {
		return now.Add(-d), nil
	}
	return time.Time{}, fmt.Errorf("%q: want an RFC 3339 time (2026-11-25T10:00:00Z) or a duration ago (2h, 30m)", s)
}
