// Package benchkit holds the small helpers the benchmark programs share.
package benchkit

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"
	"time"
)

// Main runs a benchmark program's run with the command line and standard
// output, until it returns or SIGINT or SIGTERM ends its context; on an
// error it prints "name: error" (saying that everything was stopped when
// interrupted) and exits 1. run must stop what it started before it
// returns.
func Main(name string, run func(ctx context.Context, args []string, stdout, stderr io.Writer) error) {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		if ctx.Err() != nil {
			err = errors.New("interrupted; everything it started is stopped")
		}
		fmt.Fprintln(os.Stderr, name+":", err)
		stop()
		os.Exit(1)
	}
}

// Poll calls cond every 50ms until it holds, for at most limit; it
// returns the context's error when ctx ends or limit passes first.
func Poll(ctx context.Context, limit time.Duration, cond func() bool) error {
	ctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	for !cond() {
		if err := Pause(ctx, 50*time.Millisecond); err != nil {
			return err
		}
	}
	return nil
}

// LoadAverage returns the 1, 5 and 15 minute load averages
// (/proc/loadavg), or "unknown".
func LoadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if f := strings.Fields(string(b)); err == nil && len(f) >= 3 {
		return strings.Join(f[:3], " ")
	}
	return "unknown"
}

// Pause waits for d, or until ctx ends (then it returns ctx's error).
func Pause(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Counts prints counts by key, sorted by key ("blue 12, green 3"), with
// the empty key shown as "none".
func Counts(m map[string]int64) string {
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(m)) {
		name := k
		if name == "" {
			name = "none"
		}
		parts = append(parts, fmt.Sprintf("%s %d", name, m[k]))
	}
	return strings.Join(parts, ", ")
}

// Round keeps three significant digits or so of a latency.
func Round(d time.Duration) time.Duration {
	switch {
	case d >= 100*time.Millisecond:
		return d.Round(time.Millisecond)
	case d >= time.Millisecond:
		return d.Round(10 * time.Microsecond)
	}
	return d.Round(time.Microsecond)
}

// Terminate ends a process the benchmark started: SIGTERM, then SIGKILL
// after grace. It returns once done (closed when the process was reaped)
// is closed; a process already gone is left alone.
func Terminate(p *os.Process, done <-chan struct{}, grace time.Duration) {
	select {
	case <-done:
		return
	default:
	}
	_ = p.Signal(syscall.SIGTERM)
	select {
	case <-done:
	case <-time.After(grace):
		_ = p.Kill()
		<-done
	}
}
