package main

import (
	"io"

	"github.com/spf13/cobra"

	"github.com/bluegreen/bluegreen/internal/demo"
)

func newDemoCmd(g *globals) *cobra.Command {
	var o demo.Options
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "Run the whole blue-green cycle on this machine with the built-in sample app",
		Long: "demo makes a temporary git repository holding the sample app (three releases: v1, v2 and a bad v3),\n" +
			"runs bluegreen serve on a temporary state directory, and tells the story with a load client running:\n" +
			"deploy blue, deploy and verify green, switch under load, sync, deploy the bad release, switch to it\n" +
			"and watch bluegreen roll it back by itself, sync again. It needs git on PATH (exit 2 without it).\n" +
			"It exits 1 if any request failed, the bad release's own 500s apart (the watch is there to catch those).",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if o.Switches < 1 || o.Connections < 1 || o.Rate < 0 {
				return usageErrorf("--switches and --connections must be at least 1 and --rate at least 0")
			}
			out := g.stdout
			if g.json() {
				out = io.Discard
			}
			o.Version = version
			summary, err := demo.Run(cmd.Context(), out, o)
			if g.json() && summary.Requests > 0 {
				if werr := writeJSON(g.stdout, summary); werr != nil && err == nil {
					err = werr
				}
			}
			return err
		},
	}
	cmd.Flags().IntVar(&o.Switches, "switches", 9, "how many switches to make under load (an odd number ends on green, the new release)")
	cmd.Flags().IntVar(&o.Connections, "connections", 16, "concurrent client connections of the load")
	cmd.Flags().IntVar(&o.Rate, "rate", 2000, "requests per second of the load, over all connections; 0: as fast as possible")
	cmd.Flags().BoolVar(&o.Keep, "keep", false, "keep the temporary directory (repository, state, app logs); the apps are stopped anyway")
	return cmd
}
