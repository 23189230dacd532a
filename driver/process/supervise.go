package process

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/bluegreen/bluegreen"
)

// Supervise is the body of the `bluegreen supervise` verb: it runs spec's app
// until ctx ends or the process receives SIGTERM or SIGINT, then stops the
// app's process group (SIGTERM, SIGKILL after spec.StopGrace) and returns nil.
//
// The app runs as /bin/sh -c spec.Command in spec.Dir, in a process group of
// its own, with exactly spec.Env as its environment and stdin /dev/null. Its
// stdout and stderr go through a pipe into StateDir/app.log, rotated by size.
// Its main process is started with a parent-death signal of SIGKILL, so it
// does not outlive its supervisor unsupervised (processes it forked may). When the app exits on its own, what is
// left of its process group is killed and the app is started again after an
// exponential backoff (RestartBackoff doubling up to RestartBackoffMax, back
// to RestartBackoff once the app stayed up RestartReset). Every step is
// appended to StateDir/events.jsonl, and supervisor.json is rewritten with
// the current pids after each start and exit.
//
// Supervise returns an error without starting anything when spec is invalid
// (EINVALID), when another supervisor holds StateDir (ECONFLICT), or when the
// state directory cannot be prepared. It installs handlers for SIGTERM and
// SIGINT for as long as it runs and closes the descriptors above stderr that
// the process inherited without close-on-exec, so it is meant to own its
// process: call it once, from the supervise verb. A nil logger discards.
func Supervise(ctx context.Context, spec Spec, logger *slog.Logger) error {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	spec = spec.withDefaults()
	if err := spec.validate(); err != nil {
		return err
	}
	logger = logger.With("component", "supervisor", "color", spec.Color, "release", spec.Release)
	dropInheritedFDs()
	if st, err := os.Stat(spec.Dir); err != nil || !st.IsDir() {
		return bluegreen.Errorf(bluegreen.EINVALID, "release directory %s of %s is not a directory", spec.Dir, spec.Color)
	}
	if err := os.MkdirAll(spec.StateDir, 0o700); err != nil {
		return fmt.Errorf("creating supervisor state directory: %w", err)
	}
	unlock, err := lockDir(spec.StateDir)
	if err != nil {
		return err
	}
	defer unlock()

	ctx, stopSignals := signal.NotifyContext(ctx, syscall.SIGTERM, syscall.SIGINT)
	defer stopSignals()
	// Signals meant for serve (SIGHUP reloads it, SIGUSR2 hands it over)
	// reach the supervisor too when a service manager signals the whole
	// unit: they must not end it. Caught rather than ignored, which the app
	// would inherit.
	signal.Notify(make(chan os.Signal, 1), syscall.SIGHUP, syscall.SIGUSR2)

	self, err := identify(os.Getpid())
	if err != nil {
		return fmt.Errorf("reading own process start time: %w", err)
	}
	events, err := openEventLog(filepath.Join(spec.StateDir, eventsFile), spec.Color, spec.Release)
	if err != nil {
		return err
	}
	defer events.close()
	events.onWriteFailure = func(err error) { logger.Error("event log", "err", err) }
	out, err := openRotating(filepath.Join(spec.StateDir, appLogFile), spec.LogMaxBytes, spec.LogKeep)
	if err != nil {
		return err
	}
	defer out.Close()
	pr, pw, err := os.Pipe()
	if err != nil {
		return fmt.Errorf("creating the app's output pipe: %w", err)
	}
	defer pr.Close()
	pumped := make(chan struct{})
	go func() {
		defer close(pumped)
		pump(out, pr, logger)
	}()

	s := &supervisor{spec: spec, logger: logger, events: events, output: pw, state: supervisorState{
		Supervisor: self, Color: spec.Color, Release: spec.Release, StopGrace: spec.StopGrace,
	}}
	s.run(ctx)

	// The pipe ends when every copy of its write end is closed. A process
	// that left the app's group may still hold one: give it a moment,
	// then stop reading.
	pw.Close()
	t := time.NewTimer(time.Second)
	defer t.Stop()
	select {
	case <-pumped:
	case <-t.C:
		logger.Warn("a process outside the app's group still holds the app's output pipe; its output is dropped")
		pr.Close() // ends pump's Read
		<-pumped
	}
	return nil
}

// lockDir takes an exclusive flock on dir/supervisor.lock, so that two
// supervisors never share a state directory. The lock dies with the process.
func lockDir(dir string) (unlock func(), err error) {
	f, err := os.OpenFile(filepath.Join(dir, supervisorLock), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("opening supervisor lock: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, bluegreen.Errorf(bluegreen.ECONFLICT, "another supervisor runs in %s", dir)
		}
		return nil, fmt.Errorf("locking %s: %w", dir, err)
	}
	return func() { f.Close() }, nil
}

// pump copies the app's output into the log until the pipe ends. A failing
// log is reported once and the output drained anyway, so the app never
// blocks on a full pipe.
func pump(dst io.Writer, src io.Reader, logger *slog.Logger) {
	buf := make([]byte, 32<<10)
	failed := false
	for {
		n, err := src.Read(buf)
		if n > 0 {
			if _, werr := dst.Write(buf[:n]); werr != nil && !failed {
				logger.Error("app output is being lost", "err", werr)
				failed = true
			}
		}
		if err != nil {
			return
		}
	}
}
