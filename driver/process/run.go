package process

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"syscall"
	"time"
)

// supervisor is the state of one Supervise call. Only its run goroutine
// touches it.
type supervisor struct {
	spec   Spec
	logger *slog.Logger
	events *eventLog
	output *os.File // write end of the pipe into app.log
	state  supervisorState
}

// app is one run of the app's command.
type app struct {
	cmd     *exec.Cmd
	id      procIdentity // the process group leader; its pid is the pgid
	started time.Time
	done    chan struct{} // closed once cmd.Wait returned
}

// run starts the app and keeps it running until ctx ends.
func (s *supervisor) run(ctx context.Context) {
	s.record(Event{Kind: EventSupervising, Message: fmt.Sprintf("supervisor %d began for %s release %s", s.state.Supervisor.Pid, s.spec.Color, s.spec.Release)})
	s.save()
	delay := s.spec.RestartBackoff
	for {
		if ctx.Err() != nil {
			s.record(Event{Kind: EventStopped, Message: fmt.Sprintf("%s stopped while its app was down", s.spec.Color)})
			return
		}
		a, err := s.start()
		if err != nil {
			s.record(Event{Kind: EventStartFailed, Message: fmt.Sprintf("%s app did not start: %v", s.spec.Color, err)})
		} else {
			select {
			case <-ctx.Done():
				s.stop(a)
				return
			case <-a.done:
				uptime := time.Since(a.started)
				s.exited(a, uptime)
				if uptime >= s.spec.RestartReset {
					delay = s.spec.RestartBackoff
				}
			}
		}
		s.record(Event{Kind: EventRestarting, Delay: delay, Message: fmt.Sprintf("restarting %s app in %s", s.spec.Color, delay)})
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
		case <-t.C:
		}
		delay = min(delay*2, s.spec.RestartBackoffMax)
	}
}

// start starts one run of the app and records it.
func (s *supervisor) start() (*app, error) {
	cmd := exec.Command("/bin/sh", "-c", s.spec.Command)
	cmd.Dir = s.spec.Dir
	cmd.Env = append([]string{}, s.spec.Env...) // never nil: nil would inherit ours
	cmd.Stdout, cmd.Stderr = s.output, s.output
	cmd.SysProcAttr = procAttr()
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	a := &app{cmd: cmd, started: time.Now(), done: make(chan struct{})}
	go func() {
		cmd.Wait() // the exit status is read from cmd.ProcessState
		close(a.done)
	}()
	// Until Wait reaps it, the process is in /proc even if it has exited.
	id, err := identify(cmd.Process.Pid)
	if err != nil {
		s.logger.Error("reading app start time", "pid", cmd.Process.Pid, "err", err)
		id = procIdentity{Pid: cmd.Process.Pid}
	}
	a.id = id
	s.state.App = id
	s.state.Starts++
	s.save()
	s.record(Event{Kind: EventStarted, Pid: id.Pid, Message: fmt.Sprintf("%s app started (pid %d)", s.spec.Color, id.Pid)})
	return a, nil
}

// exited records an app that ended on its own and kills what is left of its
// process group, so that a restart finds its port free. The leader is reaped
// already, but while members of its group live its pid cannot be reused, so
// the signal reaches only the app's own leftovers.
func (s *supervisor) exited(a *app, uptime time.Duration) {
	if err := killGroup(a.id.Pid, syscall.SIGKILL); err != nil {
		s.logger.Error("killing the crashed app's leftovers", "err", err)
	}
	s.state.App = procIdentity{}
	s.save()
	code, sig := exitStatus(a.cmd.ProcessState)
	e := Event{Kind: EventExited, Pid: a.id.Pid, ExitCode: code, Signal: sig, Uptime: uptime}
	if sig != "" {
		e.Message = fmt.Sprintf("%s app (pid %d) was killed by %s after %s", s.spec.Color, a.id.Pid, sig, uptime.Round(time.Millisecond))
	} else {
		e.Message = fmt.Sprintf("%s app (pid %d) exited with status %d after %s", s.spec.Color, a.id.Pid, code, uptime.Round(time.Millisecond))
	}
	s.record(e)
}

// stop ends the app: SIGTERM to its group, SIGKILL to the group if the
// leader or any member is still there when the grace period ends.
func (s *supervisor) stop(a *app) {
	pgid := a.id.Pid
	s.record(Event{Kind: EventStopping, Pid: pgid, Message: fmt.Sprintf("stopping %s app (pid %d): SIGTERM, SIGKILL after %s", s.spec.Color, pgid, s.spec.StopGrace)})
	deadline := time.Now().Add(s.spec.StopGrace)
	if err := killGroup(pgid, syscall.SIGTERM); err != nil {
		s.logger.Error("stopping app", "err", err)
	}
	ctx, cancel := context.WithDeadline(context.Background(), deadline)
	defer cancel()
	killed := false
	select {
	case <-a.done:
		// The leader is gone; the rest of its group gets what is left of
		// the grace period.
		if !waitUntil(ctx, func() bool { return !groupExists(pgid) }) {
			killed = true
		}
	case <-ctx.Done():
		killed = true
	}
	if killed {
		if err := killGroup(pgid, syscall.SIGKILL); err != nil {
			s.logger.Error("killing app", "err", err)
		}
		<-a.done
	}
	s.state.App = procIdentity{}
	s.save()
	code, sig := exitStatus(a.cmd.ProcessState)
	how := "after SIGTERM"
	if killed {
		how = fmt.Sprintf("with SIGKILL after the %s grace period", s.spec.StopGrace)
	}
	s.record(Event{Kind: EventStopped, Pid: pgid, ExitCode: code, Signal: sig, Killed: killed, Uptime: time.Since(a.started),
		Message: fmt.Sprintf("%s app (pid %d) stopped %s", s.spec.Color, pgid, how)})
}

// exitStatus returns the exit code of a finished process, or -1 and the
// name of the signal that ended it.
func exitStatus(ps *os.ProcessState) (code int, signal string) {
	if ps == nil {
		return -1, ""
	}
	if ws, ok := ps.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return -1, ws.Signal().String()
	}
	return ps.ExitCode(), ""
}

func (s *supervisor) record(e Event) {
	s.logger.Info(e.Message, "event", e.Kind)
	s.events.add(e)
}

func (s *supervisor) save() {
	s.state.UpdatedAt = time.Now().UTC()
	if err := writeState(s.spec.StateDir, s.state); err != nil {
		s.logger.Error("saving supervisor state", "err", err)
	}
}
