package main

import (
	"fmt"
	"log/slog"

	"github.com/spf13/cobra"

	"github.com/bluegreen/bluegreen/config"
	"github.com/bluegreen/bluegreen/daemon"
)

func newServeCmd(g *globals) *cobra.Command {
	var logLevel string
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the router, the controller and the API",
		Long: "serve runs the public listener (the live color), the preview listener (the inactive color)\n" +
			"and the API, as the configuration file says. On first start it creates the state directory and\n" +
			"an API token file (mode 0600) in it, and prints where it is.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			var level slog.Level
			if err := level.UnmarshalText([]byte(logLevel)); err != nil {
				return usageErrorf("--log-level %q: want debug, info, warn or error", logLevel)
			}
			// The file holds commands serve runs: only its owner may write it.
			if err := config.CheckMode(g.configPath); err != nil {
				return &exitError{code: exitUsage, err: err}
			}
			cfg, err := config.Load(g.configPath)
			if err != nil {
				return &exitError{code: exitUsage, err: err}
			}
			logger := slog.New(slog.NewTextHandler(g.stderr, &slog.HandlerOptions{Level: level}))
			d, err := daemon.New(cmd.Context(), cfg, logger, daemon.Options{Own: true, Version: version,
				Ready: func(e daemon.Endpoints) { printEndpoints(g, e) }})
			if err != nil {
				return err
			}
			defer d.Close()
			return d.Run(cmd.Context())
		},
	}
	cmd.Flags().StringVar(&logLevel, "log-level", "info", "log level: debug, info, warn, error")
	return cmd
}

// printEndpoints says where serve listens and where its token is.
func printEndpoints(g *globals, e daemon.Endpoints) {
	if g.json() {
		_ = writeJSON(g.stdout, map[string]any{"public": "http://" + e.Public, "preview": "http://" + e.Preview,
			"api": e.APIScheme + "://" + e.API, "live": e.Live, "token_file": e.TokenFile, "token_created": e.TokenCreated})
		return
	}
	created := ""
	if e.TokenCreated {
		created = " (created now; keep it secret)"
	}
	fmt.Fprintf(g.stdout, "bluegreen serving; %s is live\n  public   http://%s\n  preview  http://%s  (%s)\n  api      %s://%s\n  token    %s%s\n",
		e.Live, e.Public, e.Preview, e.Live.Other(), e.APIScheme, e.API, e.TokenFile, created)
}
