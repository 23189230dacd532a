package config

import (
	"fmt"
	"math"
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
	c.Colors = map[bluegreen.Color]*Color{}
	var listeners []listener
	listen := func(name string, dst *string) field {
		return req(name, func(v value) {
			if a, ok := d.address(v, true, dst); ok {
				listeners = append(listeners, listener{name, a, v.pos()})
			}
		})
	}
	color := func(name bluegreen.Color) field {
		c.Colors[name] = &Color{Health: DefaultHealthCheck()}
		return req(string(name), func(v value) { d.color(v, c.Colors[name]) })
	}
	d.mapping(root,
		listen("listen", &c.Listen),
		listen("preview", &c.Preview),
		listen("api", &c.API),
		opt("state", func(v value) {
			if s, ok := d.str(v, "a directory path"); ok && strings.TrimSpace(s) == "" {
				d.invalid(v, "must not be empty (the default is %s)", DefaultStateDir)
			} else if ok {
				c.StateDir = s
			}
		}),
		opt("initial_live", func(v value) {
			s, ok := d.str(v, "blue or green")
			if col := bluegreen.Color(s); ok && col.Valid() {
				c.InitialLive = col
			} else if ok {
				d.invalid(v, "%q is not a color (want blue or green)", s)
			}
		}),
		opt("router", func(v value) { d.router(v, &c.Router) }),
		color(bluegreen.Blue),
		color(bluegreen.Green),
	)
	d.checkListeners(listeners)
	d.checkUpstreams(c, listeners)
	d.checkBranches(c)
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
		opt("connect_timeout", func(v value) { d.duration(v, &r.ConnectTimeout) }),
		opt("max_request_body", func(v value) { d.size(v, &r.MaxRequestBody) }),
		opt("trust_forwarded_headers", func(v value) { d.boolean(v, &r.TrustForwardedHeaders) }),
	)
}

// color decodes a `blue:` or `green:` section.
func (d *decoder) color(v value, c *Color) {
	d.mapping(v,
		req("branch", func(v value) {
			s, ok := d.str(v, "a git branch name")
			switch {
			case ok && strings.TrimSpace(s) == "":
				d.invalid(v, "must not be empty")
			case ok && strings.ContainsAny(s, " \t\n"):
				d.invalid(v, "%q is not a branch name (it contains white space)", s)
			case ok:
				c.Branch = s
			}
		}),
		req("upstreams", func(v value) {
			d.list(v, "a list of host:port (at least one)", 1, func(_ int, e value) {
				var s string
				if _, ok := d.address(e, false, &s); ok {
					c.Upstreams = append(c.Upstreams, s)
				}
			})
		}),
		opt("health", func(v value) { d.health(v, &c.Health) }),
	)
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
func (d *decoder) checkUpstreams(c *Config, ls []listener) {
	type use struct {
		color bluegreen.Color
		at    pos
	}
	seen := map[string]use{} // normalized host:port → first use
	for _, col := range bluegreen.Colors {
		for i, raw := range c.Colors[col].Upstreams {
			path := fmt.Sprintf("%s.upstreams[%d]", col, i)
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

// checkBranches reports both colors deploying from the same branch: a push
// would not say which color it is for.
func (d *decoder) checkBranches(c *Config) {
	b, g := c.Colors[bluegreen.Blue].Branch, c.Colors[bluegreen.Green].Branch
	if b != "" && b == g {
		d.errorf(d.seen["green.branch"], "green.branch: %q is also blue's branch (at %s); each color needs its own branch",
			g, d.seen["blue.branch"])
	}
}
