package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/bluegreen/bluegreen"
	"github.com/bluegreen/bluegreen/internal/ghactions"
	"github.com/bluegreen/bluegreen/internal/textout"
)

func newStatusCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "status",
		Short: "Show the live color, each color's upstreams, health, release and traffic",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := g.client()
			if err != nil {
				return err
			}
			st, err := c.Status(cmd.Context())
			if err != nil {
				return err
			}
			if g.json() {
				err = writeJSON(g.stdout, st)
			} else {
				textout.Status(g.stdout, st)
			}
			return g.reportCI(cmd.Context(), c, err, func(*bluegreen.Status) *ghactions.Report { return ghactions.StatusReport(st, textout.Gates) })
		},
	}
}

func newColorCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "color",
		Short: "Print the live color (blue or green); needs no token",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := g.anonClient()
			if err != nil {
				return err
			}
			col, err := c.Color(cmd.Context())
			if err != nil {
				return err
			}
			if g.json() {
				return writeJSON(g.stdout, map[string]string{"color": string(col)})
			}
			fmt.Fprintln(g.stdout, col)
			return nil
		},
	}
}
