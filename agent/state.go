package agent

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"github.com/bluegreen/bluegreen"
)

// Files in the agent's directory.
const (
	stateFileName = "agent.json" // savedState
	lockFileName  = "agent.lock" // held (flock) while an agent runs, with its pid
	releasesDir   = "releases"   // one directory per deployment
	runDir        = "run"        // the process driver's root
)

// savedState is what an agent remembers across restarts (Dir/agent.json,
// mode 0600): the app it runs, the deployment it last carried out and its
// latest work. It never holds an order's environment.
type savedState struct {
	// Color, Deployment and SHA name the app the agent runs; "" when none.
	Color      bluegreen.Color `json:"color,omitempty"`
	Deployment string          `json:"deployment,omitempty"`
	SHA        string          `json:"sha,omitempty"`
	// Done is the deployment whose order was carried out last (started or
	// failed): its order is not carried out again.
	Done string `json:"done,omitempty"`
	// Work is the latest order's progress.
	Work *bluegreen.AgentWork `json:"work,omitempty"`
}

func loadState(dir string) (savedState, error) {
	var st savedState
	b, err := os.ReadFile(filepath.Join(dir, stateFileName))
	if errors.Is(err, fs.ErrNotExist) {
		return st, nil
	}
	if err != nil {
		return st, err
	}
	if err := json.Unmarshal(b, &st); err != nil {
		return st, fmt.Errorf("%s: %w", filepath.Join(dir, stateFileName), err)
	}
	return st, nil
}

// save writes st to dir atomically (a temporary file synced and renamed).
func (st savedState) save(dir string) error {
	b, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return err
	}
	return writeFileAtomic(filepath.Join(dir, stateFileName), append(b, '\n'), 0o600)
}

func writeFileAtomic(path string, data []byte, perm os.FileMode) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	_, err = f.Write(data)
	if err == nil {
		err = f.Chmod(perm)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
	}
	return err
}

// lockDir takes dir's lock file, refusing (ECONFLICT, naming the pid the
// file holds) when another agent holds it. The lock lasts until the
// returned file is closed, or the process dies.
func lockDir(dir string) (*os.File, error) {
	path := filepath.Join(dir, lockFileName)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		b, _ := os.ReadFile(path)
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			holder := "another process"
			if pid, perr := strconv.Atoi(strings.TrimSpace(string(b))); perr == nil {
				holder = "pid " + strconv.Itoa(pid)
			}
			return nil, bluegreen.Errorf(bluegreen.ECONFLICT, "another agent runs on %s (%s holds %s): one agent per directory", dir, holder, path)
		}
		return nil, fmt.Errorf("locking %s: %w", path, err)
	}
	if err := f.Truncate(0); err == nil {
		_, _ = f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	}
	return f, nil
}
