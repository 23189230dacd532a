package config

import (
	"regexp"
	"strings"

	"github.com/bluegreen/bluegreen"
)

// Host is one machine serving a color (an entry of the color's `hosts:`).
type Host struct {
	// Name names the host: a DNS label (1-63 characters of a-z, 0-9 and -,
	// neither first nor last a -), unique across both colors.
	Name string
	// Address is the host:port the router and the health checks reach the
	// color's app at on this host; unique across both colors.
	Address string
}

// hostName is a DNS label in lower case.
var hostName = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$`)

// hostUse is one decoded host name, for the check across colors.
type hostUse struct {
	name, path string
	at         pos
}

// hosts decodes a color's `hosts:` list into c.Hosts, and their addresses
// into c.Upstreams (in order) with their paths in u.upstreams, so the checks
// on upstreams cover them.
func (d *decoder) hosts(v value, c *Color, u *colorUse) {
	upstreams := strings.TrimSuffix(v.path, "hosts") + "upstreams"
	if d.given[upstreams] {
		d.invalid(v, "set hosts or upstreams, not both (upstreams is at %s): with hosts, the upstreams are the hosts' addresses", d.seen[upstreams])
		return
	}
	d.list(v, "a list of hosts such as {name: app-1, address: 10.0.0.1:8000} (at least one)", 1, func(_ int, e value) {
		var h Host
		d.mapping(e,
			req("name", func(v value) {
				s, ok := d.str(v, "a host name")
				switch {
				case ok && !hostName.MatchString(s):
					d.invalid(v, "%q is not a host name (want 1-63 characters of a-z, 0-9 and -, not starting or ending with -)", s)
				case ok:
					h.Name = s
					u.hosts = append(u.hosts, hostUse{s, v.path, v.pos()})
				}
			}),
			req("address", func(v value) {
				if _, ok := d.address(v, false, &h.Address); ok {
					c.Upstreams = append(c.Upstreams, h.Address)
					u.upstreams = append(u.upstreams, v.path)
				}
			}),
		)
		if h.Name != "" && h.Address != "" {
			c.Hosts = append(c.Hosts, h)
		}
	})
}

// checkHostNames reports a host name used twice, in one color or both.
func (d *decoder) checkHostNames(uses map[bluegreen.Color]colorUse) {
	seen := map[string]hostUse{}
	for _, col := range bluegreen.Colors {
		for _, h := range uses[col].hosts {
			if first, dup := seen[h.name]; dup {
				d.errorf(h.at, "%s: duplicate host name %q (first at %s as %s); each host needs its own name",
					h.path, h.name, first.at, first.path)
				continue
			}
			seen[h.name] = h
		}
	}
}

// HostNames returns the names of c's hosts in the order of its Upstreams,
// or nil when c lists no hosts.
func (c *Color) HostNames() []string {
	if len(c.Hosts) == 0 {
		return nil
	}
	names := make([]string, len(c.Hosts))
	for i, h := range c.Hosts {
		names[i] = h.Name
	}
	return names
}

// Agents reports whether the colors with `hosts:` are run by agents
// (`bluegreen agent` on each host): the app section's driver is process.
// With the command driver, the commands deploy to the hosts themselves;
// without an app section, bluegreen only routes to them.
func (c *Config) Agents() bool {
	if c.App == nil || c.App.Driver != DriverProcess {
		return false
	}
	for _, col := range c.Colors {
		if len(col.Hosts) > 0 {
			return true
		}
	}
	return false
}

// checkAgents reports the app keys of agents set where no color has hosts
// run by agents, a min_healthy above a color's number of hosts, the deploy
// hooks, which run on serve's machine in a release directory that a color
// of hosts does not have, and watch.stop_previous_after, which stops apps
// on serve's machine only.
func (d *decoder) checkAgents(c *Config) {
	if c.App == nil {
		return
	}
	keys := []string{"app.max_parallel", "app.min_healthy", "app.agent_timeout"}
	if !c.Agents() {
		for _, k := range keys {
			if d.given[k] {
				d.errorf(d.seen[k], "%s: only for colors of hosts run by agents (a color with hosts: and driver: process)", k)
			}
		}
		return
	}
	for _, col := range bluegreen.Colors {
		if n := len(c.Colors[col].Hosts); n > 0 && c.App.MinHealthy > n {
			d.errorf(d.seen["app.min_healthy"], "app.min_healthy: %d is more than %s's %d hosts (at %s)",
				c.App.MinHealthy, col, n, d.seen[string(col)+".hosts"])
		}
	}
	if d.given["watch.stop_previous_after"] {
		d.errorf(d.seen["watch.stop_previous_after"], "watch.stop_previous_after: stopping the previous color's app on its hosts is not built yet "+
			"(bluegreen stops only apps on serve's machine); remove it, the hosts' apps keep running")
	}
	for _, k := range []string{"app.hooks.pre_deploy", "app.hooks.post_deploy"} {
		if d.given[k] {
			d.errorf(d.seen[k], "%s: a deploy hook runs on serve's machine in the release directory, which a color of hosts "+
				"does not have (its agents build on each host); make it a build step, or a pre_switch hook", k)
		}
	}
}
