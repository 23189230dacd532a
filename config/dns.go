package config

import (
	"net"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/bluegreen/bluegreen"
)

// Switch modes of `switch_mode:`.
const (
	// SwitchRouter moves traffic in the built-in router only (default).
	SwitchRouter = "router"
	// SwitchDNS also moves the DNS record to the new color's address; the
	// router still answers the color path and serves preview.
	SwitchDNS = "dns"
	// SwitchBoth is SwitchDNS where DNS points at routers that also switch.
	SwitchBoth = "both"
)

// DNS is the `dns:` section: the record a switch moves.
type DNS struct {
	// Provider is rfc2136, cloudflare or route53.
	Provider string
	// Zone and Record are FQDNs (a trailing dot is added when missing).
	Zone, Record string
	// Type is CNAME, A or AAAA.
	Type string
	// TTL is set on every update.
	TTL time.Duration
	// Values are each color's values: one target for CNAME, addresses for
	// A/AAAA.
	Values map[bluegreen.Color][]string
	// Servers are the authoritative servers (host:port) the propagation
	// check asks; empty means the zone's NS records on port 53.
	Servers []string
	// PropagationTimeout bounds the wait for every server to answer the
	// new values; DrainMargin is added to the old TTL for the drain.
	PropagationTimeout, DrainMargin time.Duration
	// RFC2136, Cloudflare and Route53 hold the provider's settings; the one
	// named by Provider is set.
	RFC2136    *RFC2136
	Cloudflare *Cloudflare
	Route53    *Route53
}

// Secret is where a secret comes from: an environment variable or a file,
// read when serve starts. It is never written in the config itself.
type Secret struct{ Env, File string }

// RFC2136 are the settings of the rfc2136 provider.
type RFC2136 struct {
	// Server is the zone's primary, host:port.
	Server string
	// KeyName, KeyAlgorithm (hmac-sha256 by default) and KeySecret (base64,
	// as in BIND's key statement) are the TSIG key.
	KeyName, KeyAlgorithm string
	KeySecret             Secret
}

// Cloudflare are the settings of the cloudflare provider.
type Cloudflare struct{ APIToken Secret }

// Route53 are the settings of the route53 provider; credentials come from
// the usual AWS environment or profile.
type Route53 struct{ Region, Profile, HostedZoneID string }

var tsigAlgorithms = map[string]bool{"hmac-sha256": true, "hmac-sha512": true, "hmac-sha384": true, "hmac-sha224": true, "hmac-sha1": true}

var dnsName = regexp.MustCompile(`^([A-Za-z0-9_]([A-Za-z0-9_-]{0,61}[A-Za-z0-9])?\.)*[A-Za-z0-9_]([A-Za-z0-9_-]{0,61}[A-Za-z0-9])?\.?$`)

// fqdn decodes a DNS name and adds the trailing dot.
func (d *decoder) fqdn(v value, dst *string) {
	s, ok := d.str(v, "a DNS name such as app.example.com.")
	if !ok {
		return
	}
	if !dnsName.MatchString(s) || len(s) > 254 {
		d.invalid(v, "%q is not a DNS name", s)
		return
	}
	*dst = strings.ToLower(strings.TrimSuffix(s, ".") + ".")
}

// secret decodes a mapping {env: NAME} or {file: path}.
func (d *decoder) secret(v value, dst *Secret) {
	d.mapping(v,
		opt("env", func(v value) {
			s, ok := d.str(v, "an environment variable name")
			if ok && !envName.MatchString(s) {
				d.invalid(v, "%q is not an environment variable name", s)
			} else if ok {
				dst.Env = s
			}
		}),
		opt("file", func(v value) {
			if s, ok := d.str(v, "a file path"); ok && strings.TrimSpace(s) != "" {
				dst.File = d.relative(s)
			} else if ok {
				d.invalid(v, "must not be empty")
			}
		}),
	)
	if d.given[v.child("env")] == d.given[v.child("file")] {
		d.errorf(v.at, "%s: give env (an environment variable) or file (a file holding the secret), one of them; secrets are never written in the config", v.path)
	}
}

// dns decodes the `dns:` section.
func (d *decoder) dns(v value, c *DNS) {
	c.TTL, c.PropagationTimeout, c.DrainMargin = 60*time.Second, 60*time.Second, 10*time.Second
	c.Values = map[bluegreen.Color][]string{}
	d.mapping(v,
		req("provider", func(v value) {
			s, ok := d.str(v, "rfc2136, cloudflare or route53")
			if ok && s != "rfc2136" && s != "cloudflare" && s != "route53" {
				d.invalid(v, "unknown provider %q (want rfc2136, cloudflare or route53)", s)
			} else if ok {
				c.Provider = s
			}
		}),
		req("zone", func(v value) { d.fqdn(v, &c.Zone) }),
		req("record", func(v value) { d.fqdn(v, &c.Record) }),
		req("type", func(v value) {
			s, ok := d.str(v, "CNAME, A or AAAA")
			if ok && s != "CNAME" && s != "A" && s != "AAAA" {
				d.invalid(v, "unsupported record type %q (want CNAME, A or AAAA)", s)
			} else if ok {
				c.Type = s
			}
		}),
		opt("ttl", func(v value) {
			var t time.Duration
			if d.failed(func() { d.duration(v, &t) }) {
				return
			}
			switch {
			case t%time.Second != 0:
				d.invalid(v, "%s is not a whole number of seconds (DNS TTLs are in seconds)", t)
			case t > maxDNSTTL:
				d.invalid(v, "%s is above the largest TTL, %s", t, maxDNSTTL)
			default:
				c.TTL = t
			}
		}),
		req("values", func(v value) {
			d.mapping(v,
				req("blue", func(v value) { d.dnsValues(v, c, bluegreen.Blue) }),
				req("green", func(v value) { d.dnsValues(v, c, bluegreen.Green) }),
			)
		}),
		opt("servers", func(v value) {
			d.list(v, "a list of host:port (the zone's authoritative servers)", 1, func(_ int, e value) {
				var s string
				if _, ok := d.address(e, false, &s); ok {
					c.Servers = append(c.Servers, s)
				}
			})
		}),
		opt("propagation_timeout", func(v value) { d.duration(v, &c.PropagationTimeout) }),
		opt("drain_margin", func(v value) { d.duration(v, &c.DrainMargin) }),
		opt("rfc2136", func(v value) {
			r := &RFC2136{KeyAlgorithm: "hmac-sha256"}
			c.RFC2136 = r
			d.mapping(v,
				req("server", func(v value) { d.address(v, false, &r.Server) }),
				req("key_name", func(v value) { d.fqdn(v, &r.KeyName) }),
				opt("key_algorithm", func(v value) {
					s, ok := d.str(v, "a TSIG algorithm")
					if ok && !tsigAlgorithms[s] {
						d.invalid(v, "unknown TSIG algorithm %q (want hmac-sha256, hmac-sha512, hmac-sha384, hmac-sha224 or hmac-sha1)", s)
					} else if ok {
						r.KeyAlgorithm = s
					}
				}),
				req("key_secret", func(v value) { d.secret(v, &r.KeySecret) }),
			)
		}),
		opt("cloudflare", func(v value) {
			c.Cloudflare = &Cloudflare{}
			d.mapping(v, req("api_token", func(v value) { d.secret(v, &c.Cloudflare.APIToken) }))
		}),
		opt("route53", func(v value) {
			r := &Route53{}
			c.Route53 = r
			str := func(dst *string) func(value) {
				return func(v value) {
					if s, ok := d.str(v, "a string"); ok {
						*dst = s
					}
				}
			}
			d.mapping(v, opt("region", str(&r.Region)), opt("profile", str(&r.Profile)), opt("hosted_zone_id", str(&r.HostedZoneID)))
		}),
	)
	if c.Provider == "" {
		return
	}
	if !d.given[v.child(c.Provider)] {
		d.errorf(v.at, "%s: provider %s needs its settings in %s.%s", v.path, c.Provider, v.path, c.Provider)
	}
	for _, p := range []string{"rfc2136", "cloudflare", "route53"} {
		if p != c.Provider && d.given[v.child(p)] {
			d.errorf(d.seen[v.child(p)], "%s: settings of %s, but the provider is %s", v.child(p), p, c.Provider)
		}
	}
	if c.Record != "" && c.Zone != "" && c.Record != c.Zone && !strings.HasSuffix(c.Record, "."+c.Zone) {
		d.errorf(d.seen[v.child("record")], "%s: %s is not in the zone %s", v.child("record"), c.Record, c.Zone)
	}
	if c.Type == "CNAME" && c.Record != "" && c.Record == c.Zone {
		d.errorf(d.seen[v.child("record")], "%s: a CNAME cannot be at the zone's apex %s (use A/AAAA there, or a name below it)",
			v.child("record"), c.Zone)
	}
	b, g := c.Values[bluegreen.Blue], c.Values[bluegreen.Green]
	if len(b) > 0 && len(g) > 0 && sameSet(b, g) {
		d.errorf(d.seen[v.child("values")+".green"], "%s.green: the same values as blue: a switch would change nothing", v.child("values"))
	}
}

// dnsValues decodes one color's record values.
func (d *decoder) dnsValues(v value, c *DNS, col bluegreen.Color) {
	d.list(v, "a list of values (a CNAME target, or addresses)", 1, func(_ int, e value) {
		s, ok := d.str(e, "a record value")
		if !ok {
			return
		}
		switch typ := c.Type; {
		case typ == "CNAME":
			if !dnsName.MatchString(s) {
				d.invalid(e, "%q is not a DNS name (a CNAME target)", s)
				return
			}
			s = strings.ToLower(strings.TrimSuffix(s, ".") + ".")
		case typ == "A" && (net.ParseIP(s) == nil || net.ParseIP(s).To4() == nil):
			d.invalid(e, "%q is not an IPv4 address (type A)", s)
			return
		case typ == "AAAA" && (net.ParseIP(s) == nil || net.ParseIP(s).To4() != nil):
			d.invalid(e, "%q is not an IPv6 address (type AAAA)", s)
			return
		}
		for _, have := range c.Values[col] {
			if strings.EqualFold(have, s) || (c.Type != "CNAME" && net.ParseIP(have).Equal(net.ParseIP(s))) {
				d.invalid(e, "%q is listed twice", s)
				return
			}
		}
		c.Values[col] = append(c.Values[col], s)
	})
	if c.Type == "CNAME" && len(c.Values[col]) > 1 {
		d.invalid(v, "a CNAME has exactly one target, got %d", len(c.Values[col]))
	}
}

// relative makes a path absolute against the config file's directory.
func (d *decoder) relative(s string) string {
	return absAgainst(d.file, s)
}

// absAgainst makes p absolute, relative to the directory of file.
func absAgainst(file, p string) string {
	if !filepath.IsAbs(p) && file != "" {
		p = filepath.Join(filepath.Dir(file), p)
	}
	if abs, err := filepath.Abs(p); err == nil {
		return abs
	}
	return p
}

// maxDNSTTL is the largest TTL a record may have (RFC 2181: 2^31-1 seconds).
const maxDNSTTL = (1<<31 - 1) * time.Second

// sameSet reports whether a and b hold the same values (DNS names compare
// without case, addresses by value), in any order.
func sameSet(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for _, x := range a {
		found := false
		for _, y := range b {
			if strings.EqualFold(x, y) || (net.ParseIP(x) != nil && net.ParseIP(x).Equal(net.ParseIP(y))) {
				found = true
				break
			}
		}
		if !found {
			return false
		}
	}
	return true
}
