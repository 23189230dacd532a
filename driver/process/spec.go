package process

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/bluegreen/bluegreen"
)

// Defaults for the optional fields of Spec.
const (
	DefaultStopGrace         = 10 * time.Second
	DefaultRestartBackoff    = time.Second
	DefaultRestartBackoffMax = 30 * time.Second
	DefaultRestartReset      = 60 * time.Second
	DefaultLogMaxBytes       = 10 << 20
	DefaultLogKeep           = 3
)

// Spec says what one supervisor runs. It is written to StateDir/spec.json by
// Driver.Start and read back by the supervisor with LoadSpec.
type Spec struct {
	// Color is the color the app serves.
	Color bluegreen.Color `json:"color"`
	// Release identifies the release (e.g. "20250101T120000-abc1234").
	Release string `json:"release"`
	// Dir is the release directory, the app's working directory.
	Dir string `json:"dir"`
	// Command is run with /bin/sh -c. It comes from the configuration;
	// values that come from users must reach it only through Env.
	Command string `json:"command"`
	// Env is the app's whole environment ("KEY=value"); nothing of the
	// supervisor's own environment is added. Include PATH if the command
	// needs it.
	Env []string `json:"env"`
	// StateDir is the per color and release directory that holds
	// supervisor.json, events.jsonl, spec.json and the logs.
	StateDir string `json:"state_dir"`
	// StopGrace is how long a stopped app has between SIGTERM and SIGKILL.
	// Zero means DefaultStopGrace.
	StopGrace time.Duration `json:"stop_grace"`

	// RestartBackoff is the delay before the first restart of a crashed
	// app; each further crash doubles it up to RestartBackoffMax. An app
	// that stayed up for RestartReset starts again from RestartBackoff.
	// Zero means the Default of each.
	RestartBackoff    time.Duration `json:"restart_backoff,omitempty"`
	RestartBackoffMax time.Duration `json:"restart_backoff_max,omitempty"`
	RestartReset      time.Duration `json:"restart_reset,omitempty"`
	// LogMaxBytes is the size at which app.log is rotated, and LogKeep how
	// many rotated files (app.log.1 ... app.log.LogKeep) are kept. Zero
	// means the Default of each.
	LogMaxBytes int64 `json:"log_max_bytes,omitempty"`
	LogKeep     int   `json:"log_keep,omitempty"`
}

// withDefaults returns s with every zero optional field set to its default.
func (s Spec) withDefaults() Spec {
	set := func(d *time.Duration, def time.Duration) {
		if *d <= 0 {
			*d = def
		}
	}
	set(&s.StopGrace, DefaultStopGrace)
	set(&s.RestartBackoff, DefaultRestartBackoff)
	set(&s.RestartBackoffMax, DefaultRestartBackoffMax)
	set(&s.RestartReset, DefaultRestartReset)
	if s.RestartBackoffMax < s.RestartBackoff {
		s.RestartBackoffMax = s.RestartBackoff
	}
	if s.LogMaxBytes <= 0 {
		s.LogMaxBytes = DefaultLogMaxBytes
	}
	if s.LogKeep <= 0 {
		s.LogKeep = DefaultLogKeep
	}
	return s
}

// validate returns an EINVALID error naming the first field that is wrong.
// Dir and StateDir must be absolute: the supervisor does not run in the
// server's working directory.
func (s Spec) validate() error {
	switch {
	case !s.Color.Valid():
		return bluegreen.Errorf(bluegreen.EINVALID, "process spec: unknown color %q", string(s.Color))
	case s.Release == "":
		return bluegreen.Errorf(bluegreen.EINVALID, "process spec for %s: no release", s.Color)
	case s.Command == "":
		return bluegreen.Errorf(bluegreen.EINVALID, "process spec for %s: no command", s.Color)
	case !filepath.IsAbs(s.Dir):
		return bluegreen.Errorf(bluegreen.EINVALID, "process spec for %s: release directory %q is not an absolute path", s.Color, s.Dir)
	case !filepath.IsAbs(s.StateDir):
		return bluegreen.Errorf(bluegreen.EINVALID, "process spec for %s: state directory %q is not an absolute path", s.Color, s.StateDir)
	}
	return nil
}

// LoadSpec reads a Spec written by Driver.Start. The error wraps the
// file's problem (missing, unreadable, not JSON).
func LoadSpec(path string) (Spec, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return Spec{}, fmt.Errorf("reading process spec: %w", err)
	}
	var s Spec
	if err := json.Unmarshal(b, &s); err != nil {
		return Spec{}, fmt.Errorf("reading process spec %s: %w", path, err)
	}
	return s, nil
}

// writeSpec writes s to dir/spec.json with mode 0600 and returns the path.
func writeSpec(s Spec) (string, error) {
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return "", fmt.Errorf("encoding process spec: %w", err)
	}
	path := filepath.Join(s.StateDir, specFile)
	if err := writeFileAtomic(path, append(b, '\n'), 0o600); err != nil {
		return "", fmt.Errorf("writing process spec: %w", err)
	}
	return path, nil
}

// File names inside a Spec's StateDir.
const (
	specFile       = "spec.json"
	stateFile      = "supervisor.json"
	eventsFile     = "events.jsonl"
	appLogFile     = "app.log"
	supervisorLog  = "supervisor.log"
	supervisorLock = "supervisor.lock"
)
