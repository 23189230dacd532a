package sshinstall_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/bluegreen/bluegreen"
	"github.com/bluegreen/bluegreen/agent/sshinstall"
)

// statusOf is a status in which green's hosts are app-1 and app-3, app-3's
// agent as seen (nil: none yet).
func statusOf(seen *bluegreen.AgentSeen) bluegreen.Status {
	return bluegreen.Status{State: bluegreen.State{Colors: map[bluegreen.Color]bluegreen.ColorState{
		bluegreen.Green: {Health: bluegreen.Health{Hosts: []bluegreen.HostHealth{{Name: "app-1"}, {Name: "app-3", Agent: seen}}}},
	}}}
}

// TestWaitReport feeds WaitReport serve's answers in turn: an error, no
// report yet, a report from before the install, one from another pid,
// then the new agent's; it returns the last, having said each.
func TestWaitReport(t *testing.T) {
	since := time.Date(2026, 12, 8, 10, 0, 0, 0, time.UTC)
	report := func(at time.Time, pid int) *bluegreen.AgentSeen {
		return &bluegreen.AgentSeen{Report: bluegreen.AgentReport{PID: pid, Version: "v1"}, LastSeen: at}
	}
	answers := []bluegreen.Status{
		{}, // the error's turn
		statusOf(nil),
		statusOf(report(since.Add(-time.Second), 40)),
		statusOf(report(since.Add(time.Second), 40)),
		statusOf(report(since.Add(2*time.Second), 41)),
	}
	calls := 0
	status := func(context.Context) (bluegreen.Status, error) {
		calls++
		if calls == 1 {
			return bluegreen.Status{}, errors.New("connection refused")
		}
		return answers[min(calls, len(answers))-1], nil
	}
	var said []string
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	seen, err := sshinstall.WaitReport(ctx, status, sshinstall.Result{Host: "app-3", PID: 41}, since, time.Millisecond,
		func(s string) { said = append(said, s) })
	if err != nil {
		t.Fatalf("WaitReport: %v (said %q)", err, said)
	}
	if seen.Report.PID != 41 || calls != 5 {
		t.Errorf("WaitReport returned pid %d after %d calls; want pid 41 after 5", seen.Report.PID, calls)
	}
	for i, want := range []string{"connection refused", "first report", "came before the install", "pid 40 reports"} {
		if i >= len(said) || !strings.Contains(said[i], want) {
			t.Errorf("progress %d: %q, want it to say %q (all: %q)", i, said, want, said)
			break
		}
	}
}

// TestWaitReportTimesOut: a host serve does not know, and a deadline.
func TestWaitReportTimesOut(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	status := func(context.Context) (bluegreen.Status, error) { return statusOf(nil), nil }
	_, err := sshinstall.WaitReport(ctx, status, sshinstall.Result{Host: "app-9", LogFile: "/d/agent.log"}, time.Time{},
		time.Millisecond, nil)
	if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "no host app-9") ||
		!strings.Contains(err.Error(), "/d/agent.log") {
		t.Errorf("WaitReport: %v; want a deadline error naming the unknown host and the log", err)
	}
}
