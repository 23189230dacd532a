package main

import (
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/bluegreen/bluegreen/config"
	"github.com/bluegreen/bluegreen/daemon"
	"github.com/bluegreen/bluegreen/store/sqlite"
)

// stateFileName is the SQLite state file in the state directory.
const stateFileName = daemon.StateFileName

func newStateCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "state",
		Short: "Back up the state file (the live color, tokens and history)",
	}
	var force bool
	backup := &cobra.Command{
		Use:   "backup FILE",
		Short: "Copy the state to FILE (mode 0600), also while serve runs",
		Long: "backup writes a consistent copy of the state file (state.db in the config's state directory) to\n" +
			"FILE, also while serve runs: it reads one snapshot and does not hold serve up. FILE gets mode 0600\n" +
			"(it holds the token hashes and the history) and appears only once complete. An existing FILE is\n" +
			"kept unless --force. To restore: stop serve, copy the backup to <state>/state.db, start serve.",
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) != 1 {
				return usageErrorf("state backup takes one file to write (%d arguments given)", len(args))
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			g.warnConfigMode()
			cfg, err := config.Load(g.configPath)
			if err != nil {
				return &exitError{code: exitUsage, err: err}
			}
			src, dst := filepath.Join(cfg.StateDir, stateFileName), args[0]
			info, err := sqlite.Backup(cmd.Context(), src, dst, force)
			if errors.Is(err, fs.ErrExist) {
				return fmt.Errorf("%s exists; not overwriting it (--force replaces it)", dst)
			}
			if err != nil {
				return err
			}
			if g.json() {
				return writeJSON(g.stdout, map[string]any{"file": info.Path, "source": src, "bytes": info.Bytes,
					"revision": info.Revision, "events": info.Events})
			}
			fmt.Fprintf(g.stdout, "backed up %s to %s: revision %d, %d events, %d bytes\n",
				src, info.Path, info.Revision, info.Events, info.Bytes)
			return nil
		},
	}
	backup.Flags().BoolVar(&force, "force", false, "replace FILE if it exists")
	cmd.AddCommand(backup)
	return cmd
}
