package process

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/bluegreen/bluegreen"
)

// Kinds of lifecycle Event.
const (
	EventSupervising = "supervising"  // the supervisor began
	EventStarted     = "started"      // the app was started (Pid)
	EventStartFailed = "start_failed" // the app could not be started (Message)
	EventExited      = "exited"       // the app exited on its own (ExitCode or Signal, Uptime)
	EventRestarting  = "restarting"   // the app will be started again after Delay
	EventStopping    = "stopping"     // a stop was asked: SIGTERM sent to the app's group
	EventStopped     = "stopped"      // the app is stopped (Killed if SIGKILL was needed); the supervisor exits
)

// Event is one line of events.jsonl: something that happened to the app, as
// the supervisor saw it. The server reads them with Handle.Events and records
// them in the history.
type Event struct {
	Time    time.Time       `json:"time"`
	Kind    string          `json:"kind"`
	Color   bluegreen.Color `json:"color"`
	Release string          `json:"release"`
	// Pid is the app's pid (started, exited, stopping, stopped).
	Pid int `json:"pid,omitempty"`
	// ExitCode is the exit status of an exited app, -1 when a signal
	// ended it; Signal then names the signal.
	ExitCode int    `json:"exit_code,omitempty"`
	Signal   string `json:"signal,omitempty"`
	// Uptime is how long the app ran (exited, stopped).
	Uptime time.Duration `json:"uptime,omitempty"`
	// Delay is the backoff before the next start (restarting).
	Delay time.Duration `json:"delay,omitempty"`
	// Killed is true when a stop needed SIGKILL.
	Killed bool `json:"killed,omitempty"`
	// Message is a one-line human summary, fit for the history.
	Message string `json:"message"`
}

// eventLog appends Events to events.jsonl. Each Event is one write(2) of one
// line on a file opened with O_APPEND, so a reader never sees half a line
// unless the writer was killed in the middle of it.
type eventLog struct {
	f              *os.File
	color          bluegreen.Color
	release        string
	now            func() time.Time
	onWriteFailure func(error)
}

func openEventLog(path string, color bluegreen.Color, release string) (*eventLog, error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("opening event log: %w", err)
	}
	return &eventLog{f: f, color: color, release: release, now: time.Now}, nil
}

// add fills in the time, color and release of e and appends it.
func (l *eventLog) add(e Event) {
	e.Time = l.now().UTC()
	e.Color = l.color
	e.Release = l.release
	b, err := json.Marshal(e)
	if err == nil {
		_, err = l.f.Write(append(b, '\n'))
	}
	if err != nil && l.onWriteFailure != nil {
		l.onWriteFailure(fmt.Errorf("appending %s event: %w", e.Kind, err))
	}
}

func (l *eventLog) close() error { return l.f.Close() }

// readEvents decodes the complete lines of the file at path from byte offset
// since and returns them with the offset just after the last complete line,
// to pass as since next time. A line still being written is left for the
// next call. A missing file reads as no events.
func readEvents(path string, since int) ([]Event, int, error) {
	if since < 0 {
		return nil, since, bluegreen.Errorf(bluegreen.EINVALID, "event offset %d is negative", since)
	}
	f, err := os.Open(path)
	if os.IsNotExist(err) {
		return nil, since, nil
	}
	if err != nil {
		return nil, since, fmt.Errorf("reading events: %w", err)
	}
	defer f.Close()
	if _, err := f.Seek(int64(since), io.SeekStart); err != nil {
		return nil, since, fmt.Errorf("reading events: %w", err)
	}
	b, err := io.ReadAll(f)
	if err != nil {
		return nil, since, fmt.Errorf("reading events: %w", err)
	}
	end := bytes.LastIndexByte(b, '\n') + 1
	var events []Event
	for line := range bytes.Lines(b[:end]) {
		var e Event
		if err := json.Unmarshal(line, &e); err != nil {
			// A line cut by a killed supervisor: skip it, keep the rest.
			continue
		}
		events = append(events, e)
	}
	return events, since + end, nil
}
