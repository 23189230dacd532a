package sshinstall

import (
	"context"
	"fmt"
	"path"
	"time"

	"github.com/bluegreen/bluegreen"
)

// WaitReport waits until the agent of res.Host has reported to serve
// since since (a time of serve's clock, such as the Now of a status taken
// before the install) and, when res.PID is not 0, from the process the
// install started. It polls status every interval (500ms when 0), says
// what it sees through progress (when set) each time that changes, and
// returns what serve knows of the agent. A status call that fails is
// reported and polled again: serve may be restarting. When ctx ends first
// it returns an error saying what it saw last and where to look.
func WaitReport(ctx context.Context, status func(context.Context) (bluegreen.Status, error), res Result,
	since time.Time, interval time.Duration, progress func(string)) (bluegreen.AgentSeen, error) {
	if interval <= 0 {
		interval = 500 * time.Millisecond
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	last := ""
	for {
		seen, msg := reported(ctx, status, res, since)
		if seen != nil {
			return *seen, nil
		}
		if msg != last && progress != nil {
			progress(msg)
		}
		last = msg
		select {
		case <-ctx.Done():
			where := "journalctl -u " + path.Base(res.UnitFile)
			if res.LogFile != "" {
				where = res.LogFile
			}
			return bluegreen.AgentSeen{}, fmt.Errorf("the agent of %s did not report to serve (%s): %w; its log on the host: %s",
				res.Host, msg, ctx.Err(), where)
		case <-t.C:
		}
	}
}

// reported returns what serve knows of res.Host's agent when it has
// reported as WaitReport wants, else nil and what it saw.
func reported(ctx context.Context, status func(context.Context) (bluegreen.Status, error), res Result,
	since time.Time) (*bluegreen.AgentSeen, string) {
	st, err := status(ctx)
	if err != nil {
		return nil, fmt.Sprintf("asking serve for its status: %v", err)
	}
	for _, cs := range st.State.Colors {
		for _, h := range cs.Health.Hosts {
			switch a := h.Agent; {
			case h.Name != res.Host:
			case a == nil:
				return nil, "waiting for the agent of " + res.Host + "'s first report"
			case !a.LastSeen.After(since):
				return nil, fmt.Sprintf("waiting for the agent of %s to report (its last report came before the install, from pid %d)", res.Host, a.Report.PID)
			case res.PID != 0 && a.Report.PID != res.PID:
				return nil, fmt.Sprintf("waiting for the agent of %s: pid %d reports, the install started pid %d", res.Host, a.Report.PID, res.PID)
			default:
				return a, ""
			}
		}
	}
	return nil, "serve's colors list no host " + res.Host + ": add it to a color's hosts: in the config"
}
