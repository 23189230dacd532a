package controller

import (
	"context"
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/bluegreen/bluegreen"
)

// rolloutTick is how often a rollout reads its hosts' reports and, for
// those whose new app runs, their health.
const rolloutTick = 100 * time.Millisecond

// defaultAgentTimeout is Agents.Timeout's default.
const defaultAgentTimeout = 15 * time.Second

// hostRun is one host's part of a rollout while its agent has the order.
type hostRun struct {
	ordered time.Time // when the order was given
	started time.Time // when the agent reported the new app started; zero before
	moved   bool      // its phase changed since the record was last saved
}

// rollout deploys commit into a color of hosts: each host's agent is given
// the order to run it (at most MaxParallel at a time), and a host passes
// when its agent reports the new app started and the host then passes its
// health check within StartTimeout. It fails the host whose agent reports a
// failure, falls silent for Timeout, or whose app stays unhealthy. Once too
// many hosts failed for MinHealthy to be met, no further host is ordered
// (those still working finish). The deployment succeeds when at least
// MinHealthy hosts passed; it returns the error of fail otherwise. Each
// host's part is kept in the deployment's Hosts, and a host that failed a
// deployment that succeeded is ordered to stop its app (stopFailed). The
// migration gate's live checks run around the rollout, since the build
// steps run in it.
func (r *deployRun) rollout(ctx context.Context, commit Commit, hosts []AgentHost) error {
	d, dc, c := r.d, r.dc, r.c
	ag := dc.Agents
	n := len(hosts)
	par, need, timeout := ag.MaxParallel, ag.MinHealthy, ag.Timeout
	if par <= 0 || par > n {
		par = n
	}
	if need <= 0 || need > n {
		need = n
	}
	if timeout <= 0 {
		timeout = defaultAgentTimeout
	}
	d.Hosts = make([]bluegreen.HostRollout, n)
	for i, h := range hosts {
		d.Hosts[i] = bluegreen.HostRollout{Host: h.Name, Status: bluegreen.HostPending}
	}
	baseline := r.liveBaseline(ctx, len(dc.Build) > 0)
	r.say(bluegreen.StepRollout, fmt.Sprintf("rolling out %s to %s's %d hosts (%d at a time; %d must pass)",
		short12(commit.SHA), d.Color, n, par, need))
	defer func() {
		for _, h := range hosts {
			if o := c.fleet.order(h.Name); o != nil && o.Deployment == d.ID {
				c.fleet.give(h.Name, nil)
			}
		}
	}()

	var passed, failed int
	_, err := r.step(ctx, bluegreen.StepRollout, "", func() (int, error) {
		running := map[int]*hostRun{}
		next := 0
		tick := time.NewTicker(rolloutTick)
		defer tick.Stop()
		for {
			for len(running) < par && next < n && n-failed >= need {
				c.fleet.give(hosts[next].Name, r.order(commit, hosts[next]))
				running[next] = &hostRun{ordered: c.now()}
				d.Hosts[next].Status = bluegreen.HostDeploying
				r.say(bluegreen.StepRollout, hosts[next].Name+": ordered to run "+short12(commit.SHA))
				next++
			}
			if len(running) == 0 {
				break
			}
			select {
			case <-ctx.Done():
				return 0, ctx.Err()
			case <-tick.C:
			}
			var health *bluegreen.Health
			changed := false
			for i, hr := range running {
				ok, done := r.hostProgress(ctx, hosts[i], hr, timeout, &health)
				changed = changed || done || hr.moved
				hr.moved = false
				if !done {
					continue
				}
				delete(running, i)
				c.fleet.give(hosts[i].Name, nil)
				d.Hosts[i].DurationMS = c.now().Sub(hr.ordered).Milliseconds()
				if ok {
					passed++
				} else {
					failed++
				}
			}
			if changed {
				r.saveRecord(ctx, "recording the hosts' progress")
			}
		}
		for i := range d.Hosts {
			if d.Hosts[i].Status == bluegreen.HostPending {
				d.Hosts[i].Status = bluegreen.HostSkipped
			}
		}
		if passed < need {
			return 0, rolloutError(d.Hosts, passed, need)
		}
		return 0, nil
	})
	if baseline != nil {
		r.liveAfterBuild(ctx, baseline)
	}
	if err != nil {
		return r.fail(ctx, bluegreen.StepRollout, err, nil)
	}
	r.say(bluegreen.StepRollout, fmt.Sprintf("%d of %d hosts run %s", passed, n, short12(commit.SHA)))
	if failed > 0 {
		r.stopFailed(ctx, hosts, timeout)
	}
	return nil
}

// stopFailed orders the hosts that failed a rollout that still met
// min_healthy to stop their apps, so that the color does not serve their
// old release beside the new one (the router skips a host that refuses
// connections, and the health check needs min_healthy hosts), and waits
// until each agent says it stopped or falls silent for timeout.
func (r *deployRun) stopFailed(ctx context.Context, hosts []AgentHost, timeout time.Duration) {
	c, d := r.c, r.d
	id := d.ID + ".stop"
	waiting := map[string]time.Time{}
	for _, h := range hosts {
		if hostPart(d, h.Name).Status != bluegreen.HostFailed {
			continue
		}
		c.fleet.give(h.Name, &bluegreen.HostOrder{Deployment: id, Color: d.Color, Stop: true,
			StopGraceMS: r.dc.Agents.StopGrace.Milliseconds()})
		waiting[h.Name] = c.now()
		r.say(bluegreen.StepRollout, h.Name+": ordered to stop its app (it failed; the color is served by the hosts that passed)")
	}
	tick := time.NewTicker(rolloutTick)
	defer tick.Stop()
	for len(waiting) > 0 {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		for host, ordered := range waiting {
			s, ok := c.fleet.agent(host)
			last := ordered
			if ok && s.LastSeen.After(last) {
				last = s.LastSeen
			}
			var line string
			switch w := s.Report.Work; {
			case ok && w != nil && w.Deployment == id && w.Phase == bluegreen.AgentStopped:
				line = host + ": stopped"
			case ok && w != nil && w.Deployment == id && w.Phase == bluegreen.AgentFailed:
				line = host + ": could not stop its app: " + w.Error
			case c.now().Sub(last) > timeout:
				line = fmt.Sprintf("%s: its agent did not say it stopped within %s", host, timeout)
			default:
				continue
			}
			r.say(bluegreen.StepRollout, line)
			c.fleet.give(host, nil)
			delete(waiting, host)
		}
	}
}

// hostProgress reads host's report and, once its new app started, its
// health (one health round per tick for all hosts, kept in *health), and
// moves its part of the deployment on. done says the host passed (ok) or
// failed.
func (r *deployRun) hostProgress(ctx context.Context, host AgentHost, hr *hostRun, timeout time.Duration, health **bluegreen.Health) (ok, done bool) {
	c, d := r.c, r.d
	hs := hostPart(d, host.Name)
	now := c.now()
	seen, reported := c.fleet.agent(host.Name)
	var work *bluegreen.AgentWork
	if reported && seen.Report.Work != nil && seen.Report.Work.Deployment == d.ID {
		work = seen.Report.Work
	}
	if work != nil && (work.Phase != hs.Phase || work.Step != hs.Step) {
		hs.Phase, hs.Step, hs.Output = work.Phase, work.Step, work.Output
		hr.moved = true
		line := fmt.Sprintf("%s: %s", host.Name, work.Phase)
		if work.Step != "" {
			line += " (" + work.Step + ")"
		}
		r.say(bluegreen.StepRollout, line)
	}
	last := hr.ordered
	if reported && seen.LastSeen.After(last) {
		last = seen.LastSeen
	}
	fail := func(msg string, output []string) (bool, bool) {
		hs.Status, hs.Error, hs.Output = bluegreen.HostFailed, msg, output
		r.say(bluegreen.StepRollout, host.Name+": failed: "+msg)
		for _, l := range output {
			r.say(bluegreen.StepRollout, host.Name+": "+l)
		}
		return false, true
	}
	switch {
	case now.Sub(last) > timeout && !reported:
		return fail(fmt.Sprintf("its agent has never reported to this serve (waited %s)", timeout), nil)
	case now.Sub(last) > timeout:
		return fail(fmt.Sprintf("its agent has not reported for %s (last at %s)", now.Sub(last).Round(time.Second),
			seen.LastSeen.UTC().Format(time.RFC3339)), nil)
	case work == nil:
		return false, false
	case work.Phase == bluegreen.AgentFailed:
		return fail(work.Error, work.Output)
	case work.Phase != bluegreen.AgentStarted:
		return false, false
	}
	if hr.started.IsZero() {
		hr.started = now
	}
	if *health == nil {
		h, _ := c.health.Verify(ctx, d.Color)
		*health = &h
	}
	reason := "not probed yet"
	for _, hh := range (*health).Hosts {
		if hh.Name != host.Name {
			continue
		}
		if hh.Healthy {
			hs.Status = bluegreen.HostOK
			r.say(bluegreen.StepRollout, fmt.Sprintf("%s: healthy (app pid %d)", host.Name, seen.Report.AppPID))
			return true, true
		}
		reason = hh.Reason
	}
	if now.Sub(hr.started) > r.dc.StartTimeout {
		return fail(fmt.Sprintf("not healthy within %s: %s", r.dc.StartTimeout, reason), nil)
	}
	return false, false
}

// hostPart returns the deployment's part for host.
func hostPart(d *bluegreen.Deployment, host string) *bluegreen.HostRollout {
	for i := range d.Hosts {
		if d.Hosts[i].Host == host {
			return &d.Hosts[i]
		}
	}
	panic("controller: no rollout part for host " + host)
}

// order is what host's agent is to run for this deployment.
func (r *deployRun) order(commit Commit, host AgentHost) *bluegreen.HostOrder {
	ag, d := r.dc.Agents, r.d
	env := append([]string(nil), ag.Env...)
	env = append(env, "BLUEGREEN_COLOR="+string(d.Color), "BLUEGREEN_REF="+d.Ref, "BLUEGREEN_SHA="+commit.SHA,
		"BLUEGREEN_DEPLOYMENT="+d.ID, "BLUEGREEN_HOST="+host.Name, "BLUEGREEN_ADDRESS="+host.Address)
	if _, port, err := net.SplitHostPort(host.Address); err == nil {
		env = append(env, "PORT="+port)
	}
	return &bluegreen.HostOrder{Deployment: d.ID, Color: d.Color, Ref: d.Ref, SHA: commit.SHA,
		Build: append([]string(nil), r.dc.Build...), Run: ag.Run, Env: env,
		StopGraceMS: ag.StopGrace.Milliseconds(), KeepReleases: r.dc.KeepReleases}
}

// rolloutError says which hosts failed and why.
func rolloutError(parts []bluegreen.HostRollout, passed, need int) error {
	var why []string
	for _, p := range parts {
		switch p.Status {
		case bluegreen.HostFailed:
			why = append(why, p.Host+": "+p.Error)
		case bluegreen.HostSkipped:
			why = append(why, p.Host+": not deployed (too many hosts had failed)")
		}
	}
	return fmt.Errorf("%d of %d hosts passed, %d needed: %s", passed, len(parts), need, strings.Join(why, "; "))
}

// halfDeployed returns why color, as cs describes it, may not take
// traffic because its hosts do not all run its release: a host whose agent
// reports another release running. A host whose agent has not reported to
// this serve, or that runs nothing, is left to the health check.
func (c *Controller) halfDeployed(cs bluegreen.ColorState, color bluegreen.Color) []string {
	hosts := c.deployCfg.hostsOf(color)
	if len(hosts) == 0 || cs.Release == nil {
		return nil
	}
	var other []string
	for _, h := range hosts {
		s, ok := c.fleet.agent(h.Name)
		if ok && s.Report.Release != "" && s.Report.Release != cs.Release.SHA {
			other = append(other, fmt.Sprintf("%s runs %s", h.Name, short12(s.Report.Release)))
		}
	}
	if len(other) == 0 {
		return nil
	}
	return []string{fmt.Sprintf("%s is half-deployed: its release is %s but %s (deploy into %s again)",
		color, short12(cs.Release.SHA), strings.Join(other, ", "), color)}
}
