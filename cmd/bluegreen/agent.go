package main

import (
	"log/slog"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/bluegreen/bluegreen/agent"
)

// newAgentCmd is `bluegreen agent`: the agent of one host of a color
// (package agent). It runs until SIGINT or SIGTERM and leaves its app
// running for the next agent to re-adopt. Its subcommands (install) are
// added beside it.
func newAgentCmd(g *globals) *cobra.Command {
	var o agent.Options
	var tokenFile string
	cmd := &cobra.Command{
		Use:   "agent",
		Short: "Run the agent of one host of a color: it reports to serve and runs the releases serve orders",
		Long: "agent runs on one host of a color's hosts:. It calls serve (--server, with the host's agent\n" +
			"token: --token-file, --token or BLUEGREEN_TOKEN) every --interval, fetches, builds and starts the\n" +
			"release a deployment orders, and keeps the app running when serve cannot be reached.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if o.Host == "" || o.Dir == "" {
				return usageErrorf("agent needs --host NAME (the host's name in its color's hosts:) and --dir DIR")
			}
			if tokenFile != "" && g.token == "" {
				t, err := readTokenFile(tokenFile)
				if err != nil {
					return err
				}
				g.token = t // the global token handling (client.go) takes it from here
			}
			c, err := g.client()
			if err != nil {
				return err
			}
			if o.Binary, err = os.Executable(); err != nil {
				return err
			}
			o.Client, o.Version, o.Logger = c, version, slog.New(slog.NewTextHandler(g.stderr, nil))
			return agent.Run(cmd.Context(), o)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.Host, "host", "", "the host's name in its color's hosts: (its agent token acts for it)")
	f.StringVar(&o.Dir, "dir", "", "the agent's directory: releases, the app's state and logs (made with mode 0700)")
	f.DurationVar(&o.Interval, "interval", agent.DefaultInterval, "how often the agent reports to serve")
	f.StringVar(&tokenFile, "token-file", "", "file holding the host's agent token, mode 0600 (--token wins)")
	cmd.AddCommand(newAgentInstallCmd(g))
	return cmd
}

// readTokenFile reads a token file, which must be its owner's alone (mode
// 0600 or stricter): it holds a secret.
func readTokenFile(path string) (string, error) {
	fi, err := os.Stat(path)
	if err == nil && fi.Mode().Perm()&0o077 != 0 {
		return "", usageErrorf("--token-file %s has mode %v: it holds a secret, make it 0600 (chmod 600)", path, fi.Mode().Perm())
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return "", usageErrorf("--token-file: %v", err)
	}
	if t := strings.TrimSpace(string(b)); t != "" {
		return t, nil
	}
	return "", usageErrorf("--token-file %s is empty", path)
}
