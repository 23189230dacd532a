package main

import (
	"log/slog"

	"github.com/spf13/cobra"

	"github.com/bluegreen/bluegreen/driver/process"
)

// newSuperviseCmd is the hidden verb the process driver starts, detached,
// to run one color's app: it outlives serve.
func newSuperviseCmd(g *globals) *cobra.Command {
	var spec string
	cmd := &cobra.Command{
		Use:    "supervise",
		Short:  "Run and supervise one color's app (started by serve; not for people)",
		Hidden: true,
		Args:   cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			s, err := process.LoadSpec(spec)
			if err != nil {
				return err
			}
			return process.Supervise(cmd.Context(), s, slog.New(slog.NewTextHandler(g.stderr, nil)))
		},
	}
	cmd.Flags().StringVar(&spec, "spec", "", "the spec file written by serve")
	return cmd
}
