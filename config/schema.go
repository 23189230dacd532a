package config

import (
	"fmt"
	"math"
	"net"
	"strconv"
	"strings"

	"github.com/bluegreen/bluegreen"
)

// This file declares bluegreen.yaml: one function per section. Checks that
// span several keys run after the section's keys are decoded.

// listener is one of the three listen addresses, for the clash check.
type listener struct {
	name string
	addr addr
	at   pos
}

// config decodes the top-level mapping into c.
func (d *decoder) config(root value, c *Config) {
	c.StateDir = DefaultStateDir
	c.InitialLive = bluegreen.Blue
	c.Router = DefaultRouter()
	c.Watch = DefaultWatch()
	c.SwitchMode = SwitchRouter
	c.Colors = map[bluegreen.Color]*Color{}
	var listeners []listener
	listen := func(name string, dst *string) field {
		return req(name, func(v value) {
			if a, ok := d.address(v, true, dst); ok {
				listeners = append(listeners, listener{name, a, v.pos()})
			}
		})
	}
	uses := map[bluegreen.Color]colorUse{}
	color := func(name bluegreen.Color) field {
		c.Colors[name] = &Color{Health: DefaultHealthCheck()}
		return req(string(name), func(v value) {
			app := c.App
			if app == nil && d.given["app"] { // present but already reported bad
				app = &App{Driver: DriverProcess}
			}
			uses[name] = d.color(v, c.Colors[name], app)
		})
	}
	stateFields, checkState := d.stateKeys(c)
	d.mapping(root, append([]field{
		listen("listen", &c.Listen),
		listen("preview", &c.Preview),
		listen("api", &c.API),
		opt("initial_live", func(v value) {
			s, ok := d.str(v, "blue or green")
			if col := bluegreen.Color(s); ok && col.Valid() {
				c.InitialLive = col
			} else if ok {
				d.invalid(v, "%q is not a color (want blue or green)", s)
			}
		}),
		opt("router", func(v value) { d.router(v, &c.Router) }),
		opt("watch", func(v value) { d.watch(v, &c.Watch) }),
		opt("api_tls", func(v value) { c.APITLS = &TLS{}; d.apiTLS(v, c.APITLS) }),
		opt("webhooks", func(v value) { d.webhooks(v, &c.Webhooks) }),
		opt("preview_url", func(v value) {
			s, ok := d.str(v, "an http(s) URL")
			if ok && !httpURL(s) {
				d.invalid(v, "%q is not an http or https URL with a host", s)
			} else if ok {
				c.PreviewURL = strings.TrimSuffix(s, "/")
			}
		}),
		opt("switch_mode", func(v value) {
			s, ok := d.str(v, "router, dns or both")
			if ok && s != SwitchRouter && s != SwitchDNS && s != SwitchBoth {
				d.invalid(v, "unknown switch mode %q (want router, dns or both)", s)
			} else if ok {
				c.SwitchMode = s
			}
		}),
		opt("dns", func(v value) { c.DNS = &DNS{}; d.dns(v, c.DNS) }),
		opt("app", func(v value) {
			a := DefaultApp()
			c.App = &a
			d.app(v, c.App)
		}),
		color(bluegreen.Blue),
		color(bluegreen.Green),
	}, stateFields...)...,
	)
	checkState()
	d.checkListeners(listeners)
	d.checkUpstreams(c, uses, listeners)
	d.checkHostNames(uses)
	d.checkAgents(c)
	d.checkPorts(c, uses, listeners)
	d.checkBranches(c)
	if c.Watch.StopPreviousAfter > 0 && c.App == nil && !d.given["app"] {
		d.errorf(d.seen["watch.stop_previous_after"], "watch.stop_previous_after: bluegreen stops only the apps it runs; it needs an app: section")
	}
	switch {
	case c.SwitchMode != SwitchRouter && !d.given["dns"] && d.given["switch_mode"]:
		d.errorf(d.seen["switch_mode"], "switch_mode: %s needs a dns: section (the record to switch and its provider)", c.SwitchMode)
	case c.SwitchMode == SwitchRouter && d.given["dns"]:
		d.errorf(d.seen["dns"], "dns: set switch_mode: dns (or both) to switch this record; with the default router mode it would be ignored")
	}
}

// router decodes the `router:` section.
func (d *decoder) router(v value, r *Router) {
	d.mapping(v,
		opt("color_path", func(v value) {
			d.urlPath(v, &r.ColorPath)
			if r.ColorPath == "/livez" || strings.HasPrefix(r.ColorPath, "/v1/") {
				d.invalid(v, "%q is reserved for the API (/livez, /v1/...)", r.ColorPath)
			}
		}),
		opt("color_header", func(v value) { d.boolean(v, &r.ColorHeader) }),
		opt("drain_timeout", func(v value) { d.duration(v, &r.DrainTimeout) }),
		opt("read_header_timeout", func(v value) { d.duration(v, &r.ReadHeaderTimeout) }),
		opt("idle_timeout", func(v value) { d.duration(v, &r.IdleTimeout) }),
		opt("body_timeout", func(v value) { d.duration(v, &r.BodyTimeout) }),
		opt("connect_timeout", func(v value) { d.duration(v, &r.ConnectTimeout) }),
		opt("max_request_body", func(v value) { d.size(v, &r.MaxRequestBody) }),
		opt("max_header_bytes", func(v value) { d.sizeIn(v, 1<<10, 1<<20, &r.MaxHeaderBytes) }),
		opt("max_uri_length", func(v value) { d.sizeIn(v, 256, 1<<20, &r.MaxURILength) }),
		opt("max_headers", func(v value) { d.integer(v, 8, 10000, &r.MaxHeaders) }),
		opt("max_connections", func(v value) { d.integer(v, 0, 1<<24, &r.MaxConnections) }),
		opt("buffer_requests", func(v value) { d.boolean(v, &r.BufferRequests) }),
		opt("buffer_memory", func(v value) { d.sizeIn(v, 1<<10, 64<<20, &r.BufferMemory) }),
		opt("body_deadline", func(v value) { d.duration(v, &r.BodyDeadline) }),
		opt("buffer_responses", func(v value) { d.boolean(v, &r.BufferResponses) }),
		opt("buffer_response_max", func(v value) { d.sizeIn(v, 1<<10, 1<<40, &r.BufferResponseMax) }),
		opt("memory_limit", func(v value) { d.sizeIn(v, 0, 1<<40, &r.MemoryLimit) }),
		opt("trust_forwarded_headers", func(v value) { d.boolean(v, &r.TrustForwardedHeaders) }),
		opt("underscores_in_headers", func(v value) { d.boolean(v, &r.UnderscoresInHeaders) }),
		opt("data_path", func(v value) {
			s, ok := d.str(v, "loop, fast or standard")
			if ok && s != DataPathLoop && s != DataPathFast && s != DataPathStandard {
				d.invalid(v, "unknown data path %q (want loop, fast or standard)", s)
			} else if ok {
				r.DataPath = s
			}
		}),
		opt("event_loops", func(v value) { d.integer(v, 0, 256, &r.EventLoops) }),
	)
}

// colorUse is what the cross-color checks need to know about a color
// section beyond its Color.
type colorUse struct {
	ports   []portUse
	derived bool // upstreams made from the ports, not written in the file
	// upstreams is the path of each entry of Color.Upstreams: entries
	// refused while decoding are not in Upstreams, so indexes can differ.
	upstreams []string
	hosts     []hostUse
}

// portUse is one decoded `port:` or `ports:` entry.
type portUse struct {
	port int
	path string
	at   pos
}

// color decodes a `blue:` or `green:` section. app is the `app:` section, nil
// when there is none: ports need it, and without it upstreams are required.
func (d *decoder) color(v value, c *Color, app *App) colorUse {
	var u colorUse
	port := func(e value) {
		p := 0
		if !d.failed(func() { d.integer(e, 1, 65535, &p) }) {
			u.ports = append(u.ports, portUse{p, e.path, e.pos()})
		}
	}
	d.mapping(v,
		req("branch", func(v value) {
			s, ok := d.str(v, "a git branch name")
			switch {
			case ok && strings.TrimSpace(s) == "":
				d.invalid(v, "must not be empty")
			case ok && strings.ContainsAny(s, " \t\n"):
				d.invalid(v, "%q is not a branch name (it contains white space)", s)
			case ok:
				// The rules deploy applies to refs: a branch reaches git.
				if err := bluegreen.ValidateRef(s); err != nil {
					d.invalid(v, "%s", bluegreen.ErrorMessage(err))
					return
				}
				c.Branch = s
			}
		}),
		opt("upstreams", func(v value) {
			d.list(v, "a list of host:port (at least one)", 1, func(_ int, e value) {
				var s string
				if _, ok := d.address(e, false, &s); ok {
					c.Upstreams = append(c.Upstreams, s)
					u.upstreams = append(u.upstreams, e.path)
				}
			})
		}),
		opt("hosts", func(v value) { d.hosts(v, c, &u) }),
		opt("port", func(v value) {
			if app == nil {
				d.invalid(v, "port needs an app: section (without one, list the color's upstreams)")
				return
			}
			port(v)
		}),
		opt("ports", func(v value) {
			switch {
			case app == nil:
				d.invalid(v, "ports needs an app: section (without one, list the color's upstreams)")
			case d.given[strings.TrimSuffix(v.path, "s")]: // the port key beside it
				d.invalid(v, "set port or ports, not both (port is at %s)", d.seen[strings.TrimSuffix(v.path, "s")])
			default:
				d.list(v, "a list of ports (at least one)", 1, func(_ int, e value) { port(e) })
			}
		}),
		opt("health", func(v value) { d.health(v, &c.Health) }),
		opt("checks", func(v value) { d.checks(v, &c.Checks) }),
	)
	if app != nil {
		d.checkNames(v.child("checks"), app.Checks, c.Checks, "app.checks")
	} else {
		d.checkNames(v.child("checks"), nil, c.Checks, "")
	}
	for _, p := range u.ports {
		c.Ports = append(c.Ports, p.port)
	}
	hasHosts := d.given[v.child("hosts")]
	hasUpstreams, hasPorts := d.given[v.child("upstreams")] || hasHosts, d.given[v.child("port")] || d.given[v.child("ports")]
	switch {
	case hasHosts && hasPorts:
		key := v.child("port")
		if !d.given[key] {
			key = v.child("ports")
		}
		d.errorf(d.seen[key], "%s: set hosts or a port, not both (hosts are at %s): each host's app listens on the port of its address",
			key, d.seen[v.child("hosts")])
	case hasHosts:
	case app == nil && !hasUpstreams:
		d.errorf(v.at, "missing required key %q in %s", "upstreams", v.path)
	case app == nil || hasPorts || hasUpstreams && app.Driver == DriverCommand:
	case app.Driver == DriverCommand:
		d.errorf(v.at, "missing required key \"port\" in %s (or ports, or upstreams where the command driver deploys the app)", v.path)
	default:
		d.errorf(v.at, "missing required key \"port\" in %s (or ports): where its app listens, given to it as $PORT", v.path)
	}
	if !hasUpstreams && len(c.Ports) > 0 {
		for _, p := range c.Ports {
			c.Upstreams = append(c.Upstreams, net.JoinHostPort("127.0.0.1", strconv.Itoa(p)))
		}
		u.derived = true
	}
	return u
}

// health decodes a `health:` section.
func (d *decoder) health(v value, h *HealthCheck) {
	bad := false // interval or timeout already reported: don't pile on
	d.mapping(v,
		opt("path", func(v value) { d.urlPath(v, &h.Path) }),
		opt("status", func(v value) { d.integer(v, 100, 599, &h.Status) }),
		opt("interval", func(v value) { bad = d.failed(func() { d.duration(v, &h.Interval) }) || bad }),
		opt("timeout", func(v value) { bad = d.failed(func() { d.duration(v, &h.Timeout) }) || bad }),
		opt("healthy_threshold", func(v value) { d.integer(v, 1, math.MaxInt, &h.HealthyThreshold) }),
		opt("unhealthy_threshold", func(v value) { d.integer(v, 1, math.MaxInt, &h.UnhealthyThreshold) }),
	)
	if h.Timeout <= h.Interval || bad {
		return
	}
	if p, ok := d.seen[v.child("timeout")]; ok {
		d.errorf(p, "%s: %s must not exceed interval %s", v.child("timeout"), h.Timeout, h.Interval)
	} else {
		d.errorf(d.seen[v.child("interval")], "%s: %s is shorter than the default timeout %s (set timeout too)",
			v.child("interval"), h.Interval, h.Timeout)
	}
}

// urlPath decodes an absolute URL path.
func (d *decoder) urlPath(v value, dst *string) {
	s, ok := d.str(v, "a path starting with /")
	switch {
	case ok && !strings.HasPrefix(s, "/"):
		d.invalid(v, "%q must start with /", s)
	case ok && strings.ContainsAny(s, " \t\n?#"):
		d.invalid(v, "%q is not a URL path", s)
	case ok:
		*dst = s
	}
}

// checkListeners reports two listeners that would bind the same socket.
func (d *decoder) checkListeners(ls []listener) {
	for i, l := range ls {
		for _, prev := range ls[:i] {
			if l.addr.clashes(prev.addr) {
				d.errorf(l.at, "%s: %q clashes with %s %q at %s (listen, preview and api need distinct addresses)",
					l.name, l.addr.raw, prev.name, prev.addr.raw, prev.at)
				break
			}
		}
	}
}

// checkUpstreams reports an upstream listed twice, shared by both colors, or
// equal to one of our own listeners (the router would proxy to itself).
func (d *decoder) checkUpstreams(c *Config, uses map[bluegreen.Color]colorUse, ls []listener) {
	type use struct {
		color bluegreen.Color
		at    pos
	}
	seen := map[string]use{} // normalized host:port → first use
	for _, col := range bluegreen.Colors {
		if uses[col].derived {
			continue // checkPorts covers them
		}
		for i, raw := range c.Colors[col].Upstreams {
			path := uses[col].upstreams[i]
			at := d.seen[path]
			a, _ := parseAddr(raw, false)
			key := fmt.Sprintf("%s:%d", a.host, a.port)
			if first, dup := seen[key]; dup && first.color == col {
				d.errorf(at, "%s: duplicate upstream %q (first at %s)", path, raw, first.at)
				continue
			} else if dup {
				d.errorf(at, "%s: %q is also an upstream of %s (at %s); blue and green must not share an upstream",
					path, raw, first.color, first.at)
				continue
			}
			seen[key] = use{col, at}
			for _, l := range ls {
				if a.clashes(l.addr) {
					d.errorf(at, "%s: %q is the %s address %q: the router would proxy to itself", path, raw, l.name, l.addr.raw)
				}
			}
		}
	}
}

// checkPorts reports an app port used twice, by both colors, by one of our
// listeners (whatever its host: the app chooses where it binds), or by the
// other color's upstreams.
func (d *decoder) checkPorts(c *Config, uses map[bluegreen.Color]colorUse, ls []listener) {
	type first struct {
		color bluegreen.Color
		at    pos
	}
	seen := map[int]first{}
	for _, col := range bluegreen.Colors {
		for _, p := range uses[col].ports {
			if f, dup := seen[p.port]; dup && f.color == col {
				d.errorf(p.at, "%s: duplicate port %d (first at %s)", p.path, p.port, f.at)
				continue
			} else if dup {
				d.errorf(p.at, "%s: port %d is also a port of %s (at %s); blue and green need their own ports",
					p.path, p.port, f.color, f.at)
				continue
			}
			seen[p.port] = first{col, p.at}
			for _, l := range ls {
				if l.addr.port == p.port {
					d.errorf(p.at, "%s: port %d is the port of %s %q: the app could not listen on it",
						p.path, p.port, l.name, l.addr.raw)
				}
			}
			if other := col.Other(); !uses[other].derived {
				local := addr{host: "127.0.0.1", port: p.port}
				for i, raw := range c.Colors[other].Upstreams {
					if a, err := parseAddr(raw, false); err == nil && a.clashes(local) {
						path := uses[other].upstreams[i]
						d.errorf(p.at, "%s: port %d is %s's upstream %q (at %s); blue and green must not share one",
							p.path, p.port, other, raw, d.seen[path])
					}
				}
			}
		}
	}
}

// checkBranches reports both colors deploying from the same branch: a push
// would not say which color it is for.
func (d *decoder) checkBranches(c *Config) {
	b, g := c.Colors[bluegreen.Blue].Branch, c.Colors[bluegreen.Green].Branch
	if b != "" && b == g {
		d.errorf(d.seen["green.branch"], "green.branch: %q is also blue's branch (at %s); each color needs its own branch",
			g, d.seen["blue.branch"])
	}
}
