package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/bluegreen/bluegreen/config"
	"github.com/bluegreen/bluegreen/store/sqlite"
)

// stateFileName is the SQLite state file in the state directory.
const stateFileName = "state.db"

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

// usedStateMarks are files a serve leaves in its state directory: finding
// one shows that the directory was used before.
var usedStateMarks = []string{tokenFileName, stateFileName + "-wal", stateFileName + "-shm", "repo.git", "releases", "run"}

// checkStateFile refuses to start on a state file that would silently
// become a fresh state although the state directory was used before (its
// api-token file, say, exists): a missing or empty state.db there means the
// state was lost, and starting would serve initial_live with no history. A
// state file that is not a regular file or cannot be read is refused too.
// The error says how to restore from a backup or start afresh on purpose.
func checkStateFile(dir string) error {
	path := filepath.Join(dir, stateFileName)
	mark := ""
	for _, name := range usedStateMarks {
		if _, err := os.Lstat(filepath.Join(dir, name)); err == nil {
			mark = name
			break
		}
	}
	refuse := func(what string) error {
		return fmt.Errorf("the state file %s %s, but the state directory was used before (%s exists): starting would "+
			"forget the live color, the tokens and the history. Restore a backup made with `bluegreen state backup FILE`: "+
			"cp FILE %s, then start serve again. To start afresh on purpose, move %s away", path, what,
			filepath.Join(dir, mark), path, dir)
	}
	fi, err := os.Lstat(path)
	switch {
	case errors.Is(err, fs.ErrNotExist) && mark != "":
		return refuse("is missing")
	case errors.Is(err, fs.ErrNotExist):
		return nil // a first start
	case err != nil:
		return fmt.Errorf("checking the state file: %w", err)
	case !fi.Mode().IsRegular():
		return fmt.Errorf("the state file %s is not a regular file; restore it from a backup made with `bluegreen state backup FILE`", path)
	case fi.Size() == 0 && mark != "":
		return refuse("is empty")
	}
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("the state file %s cannot be read (%w); fix its owner and mode (serve's user, 0600) or restore it from a backup made with `bluegreen state backup FILE`", path, errors.Unwrap(err))
	}
	return f.Close()
}
