package daemon

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"github.com/bluegreen/bluegreen/config"
	"github.com/bluegreen/bluegreen/internal/statestore"
	"github.com/bluegreen/bluegreen/store/sqlite"
)

// The files of the state directory the daemon owns.
const (
	// StateFileName is the SQLite state file.
	StateFileName = "state.db"
	// TokenFileName is the API token's file (mode 0600), made at the first
	// start.
	TokenFileName = "api-token"
)

// checkStateDir creates the state directory (0700) or checks that an
// existing one is a directory, not a symlink, and not writable by others:
// whoever can write there can plant a token file or a state.
func checkStateDir(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("creating the state directory: %w", err)
	}
	fi, err := os.Lstat(dir)
	if err != nil {
		return fmt.Errorf("checking the state directory: %w", err)
	}
	switch {
	case fi.Mode()&fs.ModeSymlink != 0:
		return fmt.Errorf("the state directory %s is a symlink; point state: at the real directory", dir)
	case !fi.IsDir():
		return fmt.Errorf("the state directory %s is not a directory", dir)
	case fi.Mode().Perm()&0o022 != 0:
		return fmt.Errorf("the state directory %s is writable by others (mode %v); run: chmod 700 %s", dir, fi.Mode().Perm(), dir)
	}
	return nil
}

// ensureToken returns the API token stored in path, creating a random one
// (mode 0600) if the file does not exist. A symlink is refused; a token file
// readable by others is tightened to 0600 with a warning to rotate it.
func ensureToken(path string, logger *slog.Logger) (token string, created bool, err error) {
	fi, err := os.Lstat(path)
	switch {
	case err == nil && !fi.Mode().IsRegular():
		return "", false, fmt.Errorf("the API token file %s is not a regular file; remove it to get a new token", path)
	case err == nil:
		b, err := os.ReadFile(path)
		if err != nil {
			return "", false, fmt.Errorf("reading the API token: %w", err)
		}
		token = strings.TrimSpace(string(b))
		if token == "" {
			return "", false, fmt.Errorf("the API token file %s is empty; delete it to get a new token", path)
		}
		if fi.Mode().Perm()&0o077 != 0 {
			logger.Warn("the API token file was readable by others; set it to 0600. Consider the token leaked: delete the file and restart to get a new one",
				"file", path, "mode", fi.Mode().Perm().String())
			if err := os.Chmod(path, 0o600); err != nil {
				return "", false, fmt.Errorf("tightening %s: %w", path, err)
			}
		}
		return token, false, nil
	case !errors.Is(err, fs.ErrNotExist):
		return "", false, fmt.Errorf("checking the API token file: %w", err)
	}
	raw := make([]byte, 32)
	if _, err := io.ReadFull(rand.Reader, raw); err != nil {
		return "", false, fmt.Errorf("making an API token: %w", err)
	}
	token = hex.EncodeToString(raw)
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return "", false, fmt.Errorf("creating the API token file: %w", err)
	}
	if _, err := f.WriteString(token + "\n"); err != nil {
		f.Close()
		return "", false, fmt.Errorf("writing the API token file: %w", err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return "", false, fmt.Errorf("writing the API token file: %w", err)
	}
	return token, true, f.Close()
}

// openStore opens the state store cfg names: state.db in the state
// directory, or the etcd cluster of `state: etcd://...`, whose errors
// name the store ("state store unreachable: ...").
func openStore(ctx context.Context, cfg *config.Config) (statestore.Store, error) {
	if cfg.Etcd != nil {
		s, err := statestore.OpenEtcd(ctx, cfg.Etcd)
		if err != nil {
			return nil, fmt.Errorf("%w (state: %s)", err, cfg.Etcd)
		}
		return s, nil
	}
	s, err := sqlite.Open(ctx, filepath.Join(cfg.StateDir, StateFileName))
	if err != nil {
		return nil, fmt.Errorf("opening the state: %w", err)
	}
	return s, nil
}

// ReadToken returns the API token serve keeps in cfg's state directory
// (with etcd state, its data_dir), for the CLI on the same machine. It
// fails saying why when the file cannot be read or is empty.
func ReadToken(cfg *config.Config) (string, error) {
	path := filepath.Join(cfg.StateDir, TokenFileName)
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("reading the token file: %w", err)
	}
	token := strings.TrimSpace(string(b))
	if token == "" {
		return "", fmt.Errorf("the token file %s is empty", path)
	}
	return token, nil
}

// usedStateMarks are files a serve leaves in its state directory: finding
// one shows that the directory was used before.
var usedStateMarks = []string{TokenFileName, StateFileName + "-wal", StateFileName + "-shm", "repo.git", "releases", "run"}

// checkStateFile refuses to start on a state file that would silently
// become a fresh state although the state directory was used before (its
// api-token file, say, exists): a missing or empty state.db there means the
// state was lost, and starting would serve initial_live with no history. A
// state file that is not a regular file or cannot be read is refused too.
// The error says how to restore from a backup or start afresh on purpose.
func checkStateFile(dir string) error {
	path := filepath.Join(dir, StateFileName)
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
