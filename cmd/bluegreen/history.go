package main

import (
	"fmt"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/bluegreen/bluegreen"
)

func newHistoryCmd(g *globals) *cobra.Command {
	var (
		f      bluegreen.HistoryFilter
		color  string
		asJSON bool
	)
	cmd := &cobra.Command{
		Use:   "history",
		Short: "Show the event history, newest first",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if color != "" {
				c, err := bluegreen.ParseColor(color)
				if err != nil {
					return &exitError{code: exitUsage, err: err}
				}
				f.Color = c
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
				fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s\n", e.ID, stamp(e.Time), e.Actor, e.Action, col, e.Outcome, e.Message)
			}
			return tw.Flush()
		},
	}
	cmd.Flags().IntVar(&f.Limit, "limit", 20, "how many events")
	cmd.Flags().StringVar(&color, "color", "", "only events about this color")
	cmd.Flags().StringVar(&f.Action, "action", "", "only this action (switch, rollback, drain, health, ...)")
	cmd.Flags().StringVar(&f.Actor, "actor", "", "only this actor")
	cmd.Flags().BoolVar(&asJSON, "json", false, "JSON output (same as --output json)")
	return cmd
}
