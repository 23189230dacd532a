package controller

import (
	"context"
	"sync"
	"time"

	"github.com/bluegreen/bluegreen"
)

// Agents is how the controller deploys into a color of hosts: each host's
// agent (`bluegreen agent`) builds and starts the release it is ordered to
// run, and reports.
type Agents struct {
	// Hosts lists each color's hosts, in the color's order; a color with
	// none is deployed on this machine as usual.
	Hosts map[bluegreen.Color][]AgentHost
	// Run is the app's shell command line on every host.
	Run string
	// Env is the app's `env:` as KEY=value, which an order carries (the
	// agent adds its own basic environment; serve's never leaves it).
	Env []string
	// StopGrace is the app's time between SIGTERM and SIGKILL.
	StopGrace time.Duration
	// MaxParallel bounds how many hosts deploy at once; <= 0 means all.
	MaxParallel int
	// MinHealthy is how many hosts must pass for the deploy to succeed;
	// <= 0 means every one.
	MinHealthy int
	// Timeout fails a host whose agent has not reported for that long
	// while it has an order; <= 0 means 15s.
	Timeout time.Duration
}

// AgentHost is one host of a color run by an agent.
type AgentHost struct {
	// Name is the host's name; Address its host:port, whose port is the
	// app's $PORT there.
	Name    string
	Address string
}

// hostsOf returns color's agent hosts, nil when it has none.
func (dc *DeployConfig) hostsOf(col bluegreen.Color) []AgentHost {
	if dc == nil || dc.Agents == nil {
		return nil
	}
	return dc.Agents.Hosts[col]
}

// fleet is what the controller knows of the agents: their last reports
// and the orders of the deployment in progress. It lives in memory only:
// agents report every few seconds, so a new leader knows them again at
// once. A fleet is safe for concurrent use.
type fleet struct {
	mu     sync.Mutex
	seen   map[string]bluegreen.AgentSeen
	orders map[string]*bluegreen.HostOrder
	// given is closed (and replaced) when a host's order changes, for the
	// agents waiting for one.
	given map[string]chan struct{}
}

func newFleet() *fleet {
	return &fleet{seen: map[string]bluegreen.AgentSeen{}, orders: map[string]*bluegreen.HostOrder{},
		given: map[string]chan struct{}{}}
}

// changed returns host's order and a channel closed when it changes.
func (f *fleet) changed(host string) (*bluegreen.HostOrder, <-chan struct{}) {
	f.mu.Lock()
	defer f.mu.Unlock()
	ch, ok := f.given[host]
	if !ok {
		ch = make(chan struct{})
		f.given[host] = ch
	}
	return f.orders[host], ch
}

func (f *fleet) report(host string, rep bluegreen.AgentReport, at time.Time) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.seen[host] = bluegreen.AgentSeen{Report: rep, LastSeen: at}
}

// agent returns host's agent's last report, if any.
func (f *fleet) agent(host string) (bluegreen.AgentSeen, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	s, ok := f.seen[host]
	return s, ok
}

func (f *fleet) order(host string) *bluegreen.HostOrder {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.orders[host]
}

// give orders host to carry out o; nil takes the order back.
func (f *fleet) give(host string, o *bluegreen.HostOrder) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if ch, ok := f.given[host]; ok {
		close(ch)
		delete(f.given, host)
	}
	if o == nil {
		delete(f.orders, host)
		return
	}
	f.orders[host] = o
}

// AgentReport implements api.Service: it keeps the report of host's agent
// (its log cut to the last AgentLogLines lines) and answers HostInfo, with
// the order host is to carry out, if any. When the answer holds nothing
// new for the agent (no order, or the one its report says it works on) it
// waits up to wait for an order to change first, so that an agent calling
// with a wait learns of a deployment at once; ctx ending ends the wait.
// ENOTFOUND when no color lists host.
func (c *Controller) AgentReport(ctx context.Context, host string, rep bluegreen.AgentReport, wait time.Duration) (bluegreen.HostInfo, error) {
	if _, err := c.HostInfo(ctx, host); err != nil {
		return bluegreen.HostInfo{}, err
	}
	if n := len(rep.Log); n > bluegreen.AgentLogLines {
		rep.Log = rep.Log[n-bluegreen.AgentLogLines:]
	}
	c.fleet.report(host, rep, c.now())
	o, changed := c.fleet.changed(host)
	if !o.News(rep) && wait > 0 {
		t := time.NewTimer(wait)
		defer t.Stop()
		select {
		case <-changed:
		case <-t.C:
		case <-ctx.Done():
		}
	}
	return c.HostInfo(ctx, host)
}

// HostLog implements api.Service: the last n lines of host's app output,
// as its agent last reported them. ENOTFOUND when no color lists host or
// its agent has not reported to this serve.
func (c *Controller) HostLog(ctx context.Context, host string, n int) ([]string, error) {
	if _, err := c.HostInfo(ctx, host); err != nil {
		return nil, err
	}
	s, ok := c.fleet.agent(host)
	if !ok {
		return nil, bluegreen.Errorf(bluegreen.ENOTFOUND, "the agent of host %s has not reported to this serve yet", host)
	}
	lines := s.Report.Log
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return append([]string(nil), lines...), nil
}

// withAgents returns h with each host's agent, as last seen, filled in.
func (c *Controller) withAgents(h bluegreen.Health) bluegreen.Health {
	if len(h.Hosts) == 0 {
		return h
	}
	hosts := make([]bluegreen.HostHealth, len(h.Hosts))
	for i, hh := range h.Hosts {
		if s, ok := c.fleet.agent(hh.Name); ok && hh.Name != "" {
			s.Report.Log = nil // status shows the host, not its output
			hh.Agent = &s
		}
		hosts[i] = hh
	}
	h.Hosts = hosts
	return h
}
