package controller

import (
	"context"
	"encoding/json"
	"strings"
	"sync"

	"github.com/bluegreen/bluegreen"
)

// progressLogs keeps the progress lines of recent deployments in memory, so
// that a detached deploy can be followed. The record of a finished deployment
// is in the history; its lines are kept for the last few deployments only,
// and not across a restart.
type progressLogs struct {
	mu    sync.Mutex
	lines map[string][]bluegreen.Progress
	order []string // deployment ids, oldest first
}

const (
	keptDeploymentLogs = 20
	maxProgressLines   = 5000
)

func (l *progressLogs) start(id string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.lines == nil {
		l.lines = map[string][]bluegreen.Progress{}
	}
	l.lines[id] = nil
	l.order = append(l.order, id)
	for len(l.order) > keptDeploymentLogs {
		delete(l.lines, l.order[0])
		l.order = l.order[1:]
	}
}

func (l *progressLogs) add(id string, p bluegreen.Progress) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if lines, ok := l.lines[id]; ok && len(lines) < maxProgressLines {
		l.lines[id] = append(lines, p)
	}
}

func (l *progressLogs) get(id string, from int) ([]bluegreen.Progress, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	lines, ok := l.lines[id]
	if !ok {
		return nil, false
	}
	if from > len(lines) {
		from = len(lines)
	}
	return append([]bluegreen.Progress(nil), lines[from:]...), true
}

// Deployment returns the deployment with id: the running or last one of a
// color from the state, else the record of its final history event. It
// fails with ENOTFOUND when no such deployment is known.
func (c *Controller) Deployment(ctx context.Context, id string) (bluegreen.Deployment, error) {
	st := c.State()
	for _, col := range bluegreen.Colors {
		if d := st.Colors[col].Deployment; d != nil && d.ID == id {
			return *d, nil
		}
	}
	evs, err := c.store.History(ctx, bluegreen.HistoryFilter{Action: bluegreen.ActionDeploy, Limit: 10000})
	if err != nil {
		return bluegreen.Deployment{}, err
	}
	for _, e := range evs {
		if e.Details["deployment"] != id {
			continue
		}
		if rec, ok := e.Details["record"].(map[string]any); ok {
			return decodeRecord(rec)
		}
	}
	return bluegreen.Deployment{}, bluegreen.Errorf(bluegreen.ENOTFOUND, "no deployment %q", id)
}

// DeploymentLog returns the progress lines of deployment id from line from
// on, and whether the deployment's lines are known.
func (c *Controller) DeploymentLog(id string, from int) ([]bluegreen.Progress, bool) {
	return c.logs.get(id, from)
}

// decodeRecord turns a deployment record read back from event details (a
// JSON object) into a Deployment.
func decodeRecord(rec map[string]any) (bluegreen.Deployment, error) {
	b, err := json.Marshal(rec)
	if err != nil {
		return bluegreen.Deployment{}, err
	}
	var d bluegreen.Deployment
	err = json.Unmarshal(b, &d)
	return d, err
}

// AppLogs is an optional capability of an AppDriver: the last lines of a
// color's app output.
type AppLogs interface {
	LogTail(c bluegreen.Color, n int) ([]string, error)
}

// AppLog returns the last n lines of color's app output, when the driver
// keeps them (the process driver does; the command driver's scripts keep
// their own).
func (c *Controller) AppLog(col bluegreen.Color, n int) ([]string, error) {
	if c.deployCfg == nil {
		return nil, bluegreen.Errorf(bluegreen.ENOTFOUND, "bluegreen does not run the apps here (no app: section)")
	}
	if hosts := c.deployCfg.hostsOf(col); len(hosts) > 0 {
		names := make([]string, len(hosts))
		for i, h := range hosts {
			names[i] = h.Name
		}
		return nil, bluegreen.Errorf(bluegreen.ENOTFOUND, "%s runs on hosts (%s): name one (logs %s --host %s)",
			col, strings.Join(names, ", "), col, names[0])
	}
	l, ok := c.deployCfg.Driver.(AppLogs)
	if !ok {
		return nil, bluegreen.Errorf(bluegreen.ENOTFOUND, "the %s app's output is kept by your own scripts (command driver)", col)
	}
	return l.LogTail(col, n)
}
