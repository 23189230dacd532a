package demo

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"time"

	"github.com/bluegreen/bluegreen/driver/process"
)

// StopApps stops every app a serve started under its state directory
// stateDir, through their supervisors (which outlive serve by design), bin
// being the bluegreen binary that serve ran. An app already gone is
// skipped; each stop may take up to 15 s. It returns every stop that
// failed, joined; the demo and the end-to-end tests call it once serve has
// ended.
func StopApps(bin, stateDir string) error {
	files, _ := filepath.Glob(filepath.Join(stateDir, "run", "*", "*", "supervisor.json"))
	drv := process.New(bin, nil)
	var errs []error
	for _, f := range files {
		h, err := drv.Adopt(filepath.Dir(f))
		if err != nil {
			continue // already stopped
		}
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		if err := h.Stop(ctx); err != nil {
			errs = append(errs, fmt.Errorf("stopping the demo's %s app: %w", h.Color(), err))
		}
		cancel()
	}
	return errors.Join(errs...)
}
