package process

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"time"
)

// procInfo is what /proc/<pid>/stat says about a process.
type procInfo struct {
	// State is the state letter: R, S, D, Z (zombie), X (dead) ...
	State byte
	// StartTicks is field 22, the start time in clock ticks after boot.
	// Together with the pid it names one process: a reused pid has a later
	// start time.
	StartTicks uint64
}

// readProc returns the /proc/<pid>/stat facts of pid, or an error wrapping
// fs.ErrNotExist when there is no such process.
func readProc(pid int) (procInfo, error) {
	if pid <= 0 {
		return procInfo{}, fmt.Errorf("pid %d: %w", pid, os.ErrNotExist)
	}
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return procInfo{}, err
	}
	return parseStat(b)
}

// parseStat parses the contents of a /proc/<pid>/stat file. The command name
// (field 2) is in parentheses and may itself hold spaces and parentheses, so
// the fields are counted from the last ')'.
func parseStat(b []byte) (procInfo, error) {
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return procInfo{}, errors.New("parsing /proc stat: no ')'")
	}
	f := bytes.Fields(b[i+1:])
	// f[0] is field 3 (state), so field 22 (starttime) is f[19].
	if len(f) < 20 || len(f[0]) != 1 {
		return procInfo{}, fmt.Errorf("parsing /proc stat: %d fields after the name", len(f))
	}
	start, err := strconv.ParseUint(string(f[19]), 10, 64)
	if err != nil {
		return procInfo{}, fmt.Errorf("parsing /proc stat start time: %w", err)
	}
	return procInfo{State: f[0][0], StartTicks: start}, nil
}

// procIdentity is a pid with the start time it had when it was recorded.
type procIdentity struct {
	Pid        int    `json:"pid"`
	StartTicks uint64 `json:"start_ticks"`
}

// identify returns the identity of the live process pid.
func identify(pid int) (procIdentity, error) {
	info, err := readProc(pid)
	if err != nil {
		return procIdentity{}, err
	}
	return procIdentity{Pid: pid, StartTicks: info.StartTicks}, nil
}

// alive reports whether the process id names is still running: the pid
// exists, has the recorded start time (so it was not reused) and is not a
// zombie.
func (id procIdentity) alive() bool {
	if id.Pid <= 0 {
		return false
	}
	info, err := readProc(id.Pid)
	if err != nil {
		return false
	}
	return info.StartTicks == id.StartTicks && info.State != 'Z' && info.State != 'X'
}

// groupExists reports whether any process is left in process group pgid.
func groupExists(pgid int) bool {
	return pgid > 0 && syscall.Kill(-pgid, 0) == nil
}

// killGroup sends sig to process group pgid; a group that is already gone is
// not an error.
func killGroup(pgid int, sig syscall.Signal) error {
	if pgid <= 0 {
		return nil
	}
	if err := syscall.Kill(-pgid, sig); err != nil && !errors.Is(err, syscall.ESRCH) {
		return fmt.Errorf("sending %v to process group %d: %w", sig, pgid, err)
	}
	return nil
}

// dropInheritedFDs closes every descriptor above stderr that this process
// inherited without close-on-exec. Go opens all of its own descriptors with
// close-on-exec, so what is left came from whoever started the server (a CI
// runner's pipe, say); a supervisor that outlives the server must not keep
// it open, nor hand it to the app.
func dropInheritedFDs() {
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return
	}
	for _, e := range ents {
		fd, err := strconv.Atoi(e.Name())
		if err != nil || fd <= 2 {
			continue
		}
		flags, _, errno := syscall.Syscall(syscall.SYS_FCNTL, uintptr(fd), syscall.F_GETFD, 0)
		if errno == 0 && flags&syscall.FD_CLOEXEC == 0 {
			syscall.Close(fd)
		}
	}
}

// pollInterval is how often waitUntil looks again. A process that is not our
// child cannot be waited on, so /proc is polled, always under a deadline.
const pollInterval = 10 * time.Millisecond

// waitUntil calls cond every pollInterval until it returns true (then
// waitUntil returns true) or ctx ends (then false).
func waitUntil(ctx context.Context, cond func() bool) bool {
	if cond() {
		return true
	}
	t := time.NewTicker(pollInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return cond()
		case <-t.C:
			if cond() {
				return true
			}
		}
	}
}

// writeFileAtomic writes data to a temporary file next to path, syncs it and
// renames it over path, so a reader sees the old or the new content, never a
// mix, even if the writer is killed.
func writeFileAtomic(path string, data []byte, perm os.FileMode) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	fail := func(err error) error {
		f.Close()
		os.Remove(tmp)
		return err
	}
	if err := f.Chmod(perm); err != nil {
		return fail(err)
	}
	if _, err := f.Write(data); err != nil {
		return fail(err)
	}
	if err := f.Sync(); err != nil {
		return fail(err)
	}
	if err := f.Close(); err != nil {
		os.Remove(tmp)
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return err
	}
	return nil
}
