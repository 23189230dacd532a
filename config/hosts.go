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
