package statestore

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"

	"github.com/bluegreen/bluegreen"
	"github.com/bluegreen/bluegreen/config"
	"github.com/bluegreen/bluegreen/store/sqlite"
)

// BackupReport says what Backup wrote.
type BackupReport struct {
	File     string `json:"file"`
	Source   string `json:"source"`
	Bytes    int64  `json:"bytes"`
	Revision int64  `json:"revision"`
	Events   int64  `json:"events"`
}

// String says what was backed up, in one line for people.
func (r BackupReport) String() string {
	return fmt.Sprintf("backed up %s to %s: revision %d, %d events, %d bytes", r.Source, r.File, r.Revision, r.Events, r.Bytes)
}

// Backup writes a consistent copy of cfg's SQLite state file to dst (see
// sqlite.Backup), also while serve runs. An existing dst is kept unless
// force (an error saying so). With etcd state it fails with EINVALID,
// pointing at `state copy`.
func Backup(ctx context.Context, cfg *config.Config, dst string, force bool) (BackupReport, error) {
	if cfg.Etcd != nil {
		return BackupReport{}, bluegreen.Errorf(bluegreen.EINVALID,
			"the state is on etcd (%s): back it up with `bluegreen state copy --from %s --to DIR`", cfg.Etcd, cfg.Etcd)
	}
	src := filepath.Join(cfg.StateDir, StateFileName)
	info, err := sqlite.Backup(ctx, src, dst, force)
	if errors.Is(err, fs.ErrExist) {
		return BackupReport{}, fmt.Errorf("%s exists; not overwriting it (--force replaces it)", dst)
	}
	if err != nil {
		return BackupReport{}, err
	}
	return BackupReport{File: info.Path, Source: src, Bytes: info.Bytes, Revision: info.Revision, Events: info.Events}, nil
}
