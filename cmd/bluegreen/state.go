package main

import (
	"errors"
	"fmt"
	"io/fs"

	"github.com/spf13/cobra"

	"github.com/bluegreen/bluegreen/config"
	"github.com/bluegreen/bluegreen/internal/statestore"
)

func newStateCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "state",
		Short: "Back up or copy the state (the live color, tokens and history)",
	}
	cmd.AddCommand(newStateCopyCmd(g))
	var force bool
	backup := &cobra.Command{
		Use:   "backup FILE",
		Short: "Copy the state to FILE (mode 0600), also while serve runs",
		Long: "backup writes a consistent copy of the state file (state.db in the config's state directory) to\n" +
			"FILE, also while serve runs: it reads one snapshot and does not hold serve up. FILE gets mode 0600\n" +
			"(it holds the token hashes and the history) and appears only once complete. An existing FILE is\n" +
			"kept unless --force. To restore: stop serve, copy the backup to <state>/state.db, start serve.",
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) != 1 {
				return usageErrorf("state backup takes one file to write (%d arguments given)", len(args))
			}
			g.warnConfigMode()
			cfg, err := config.Load(g.configPath)
			if err != nil {
				return &exitError{code: exitUsage, err: err}
			}
			r, err := statestore.Backup(cmd.Context(), cfg, args[0], force)
			if err != nil {
				return err
			}
			if g.json() {
				return writeJSON(g.stdout, r)
			}
			_, err = fmt.Fprintln(g.stdout, r)
			return err
		},
	}
	backup.Flags().BoolVar(&force, "force", false, "replace FILE if it exists")
	cmd.AddCommand(backup)
	return cmd
}

func newStateCopyCmd(g *globals) *cobra.Command {
	var req statestore.CopyRequest
	cmd := &cobra.Command{
		Use:   "copy --from DIR|URL --to DIR|URL",
		Short: "Copy the state, history, tokens and deployments between a directory and etcd",
		Long: "copy moves state between a state directory (SQLite) and etcd (etcd://host:port[,host:port...]/prefix):\n" +
			"the state keeps its revision, the history its IDs, the tokens their hashes. Stop serve first. A non-empty\n" +
			"target is refused unless --force. The config's state_tls: and state_auth: apply to its own etcd URL.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			// The config only lends its etcd credentials: a missing default
			// one is fine, one that does not load is not silently skipped.
			cfg, err := config.Load(g.configPath)
			switch {
			case err == nil:
				req.Like = cfg.Etcd
			case cmd.Flags().Changed("config") || !errors.Is(err, fs.ErrNotExist):
				return &exitError{code: exitUsage, err: err}
			}
			req.Progress = func(what string, done, total int) { fmt.Fprintf(g.stderr, "copied %d of %d %s\n", done, total, what) }
			r, err := statestore.Run(cmd.Context(), req)
			if err != nil {
				return err
			}
			if g.json() {
				return writeJSON(g.stdout, r)
			}
			_, err = fmt.Fprintln(g.stdout, r)
			return err
		},
	}
	cmd.Flags().StringVar(&req.From, "from", "", "the state to copy: a state directory or an etcd URL")
	cmd.Flags().StringVar(&req.To, "to", "", "where to copy it: a state directory or an etcd URL")
	cmd.Flags().BoolVar(&req.Force, "force", false, "copy onto a directory that holds a state (its state.db is set aside)")
	return cmd
}
