package process

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/bluegreen/bluegreen"
)

// supervisorState is the content of supervisor.json: what a server needs to
// find a supervisor and its app again after a restart.
type supervisorState struct {
	Supervisor procIdentity    `json:"supervisor"`
	App        procIdentity    `json:"app"` // Pid 0 while the app is down
	Color      bluegreen.Color `json:"color"`
	Release    string          `json:"release"`
	StopGrace  time.Duration   `json:"stop_grace"`
	// Starts counts the app's starts since the supervisor began.
	Starts    int       `json:"starts"`
	UpdatedAt time.Time `json:"updated_at"`
}

// readState reads dir/supervisor.json. A missing file is an error wrapping
// fs.ErrNotExist.
func readState(dir string) (supervisorState, error) {
	var s supervisorState
	b, err := os.ReadFile(filepath.Join(dir, stateFile))
	if err != nil {
		return s, fmt.Errorf("reading supervisor state: %w", err)
	}
	if err := json.Unmarshal(b, &s); err != nil {
		return s, fmt.Errorf("reading supervisor state in %s: %w", dir, err)
	}
	return s, nil
}

// writeState replaces dir/supervisor.json atomically.
func writeState(dir string, s supervisorState) error {
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return fmt.Errorf("encoding supervisor state: %w", err)
	}
	if err := writeFileAtomic(filepath.Join(dir, stateFile), append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("writing supervisor state: %w", err)
	}
	return nil
}
