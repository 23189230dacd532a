package dns

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"

	mdns "github.com/miekg/dns"

	"github.com/bluegreen/bluegreen"
)

// MaxTTL is the largest TTL a record may have (RFC 2181: 2^31-1 seconds).
const MaxTTL = (1<<31 - 1) * time.Second

// Record is the DNS record bluegreen switches between the two colors: its
// name and type, the TTL to set on every change, and what it holds for each
// color. A Record is a value; Normalize checks it and returns the canonical
// copy the rest of the package works with.
type Record struct {
	// Zone is the zone the record lives in, an FQDN, e.g. "example.test."
	// (the trailing dot may be omitted; Normalize adds it).
	Zone string `json:"zone"`
	// Name is the record's owner name, an FQDN inside Zone, e.g.
	// "app.example.test.".
	Name string `json:"name"`
	// Type is "CNAME", "A" or "AAAA".
	Type string `json:"type"`
	// TTL is set on the record by every Switch, in whole seconds, from 1s
	// to MaxTTL.
	TTL time.Duration `json:"ttl"`
	// Values holds, for blue and for green, what the record holds when
	// that color is live: for CNAME exactly one target name (an FQDN); for
	// A or AAAA one or more addresses of that family. The two colors must
	// differ.
	Values map[bluegreen.Color][]string `json:"values"`
}

// Normalize checks r and returns it in canonical form: zone, name and CNAME
// targets lower-case with a trailing dot, the type upper-case, addresses in
// their canonical text form, each color's values sorted. It returns an
// EINVALID *bluegreen.Error naming the first problem.
func (r Record) Normalize() (Record, error) {
	n := Record{
		Zone: canonicalName(r.Zone),
		Name: canonicalName(r.Name),
		Type: strings.ToUpper(strings.TrimSpace(r.Type)),
		TTL:  r.TTL,
	}
	if _, ok := mdns.IsDomainName(n.Zone); !ok || n.Zone == "." {
		return Record{}, bluegreen.Errorf(bluegreen.EINVALID, "dns: zone %q is not a domain name (want e.g. \"example.com.\")", r.Zone)
	}
	if _, ok := mdns.IsDomainName(n.Name); !ok || r.Name == "" {
		return Record{}, bluegreen.Errorf(bluegreen.EINVALID, "dns: record name %q is not a domain name (want e.g. \"app.%s\")", r.Name, n.Zone)
	}
	if !mdns.IsSubDomain(n.Zone, n.Name) {
		return Record{}, bluegreen.Errorf(bluegreen.EINVALID, "dns: record name %s is not inside zone %s", n.Name, n.Zone)
	}
	switch n.Type {
	case "CNAME", "A", "AAAA":
	default:
		return Record{}, bluegreen.Errorf(bluegreen.EINVALID, "dns: record type %q is not supported: want CNAME, A or AAAA", r.Type)
	}
	if n.Type == "CNAME" && n.Name == n.Zone {
		return Record{}, bluegreen.Errorf(bluegreen.EINVALID, "dns: %s is the zone apex, which cannot hold a CNAME: use A or AAAA records", n.Name)
	}
	if err := checkTTL(r.TTL); err != nil {
		return Record{}, err
	}
	n.Values = make(map[bluegreen.Color][]string, 2)
	for _, c := range bluegreen.Colors {
		vals, err := normalizeValues(n.Type, r.Values[c])
		if err != nil {
			return Record{}, bluegreen.Errorf(bluegreen.EINVALID, "dns: %s %s for %s: %v", n.Name, n.Type, c, err)
		}
		n.Values[c] = vals
	}
	for c := range r.Values {
		if !c.Valid() {
			return Record{}, bluegreen.Errorf(bluegreen.EINVALID, "dns: %s %s has values for unknown color %q: want blue and green", n.Name, n.Type, string(c))
		}
	}
	if slices.Equal(n.Values[bluegreen.Blue], n.Values[bluegreen.Green]) {
		return Record{}, bluegreen.Errorf(bluegreen.EINVALID, "dns: %s %s holds the same %s for blue and green: a switch would change nothing", n.Name, n.Type, formatValues(n.Values[bluegreen.Blue]))
	}
	return n, nil
}

// checkTTL returns an EINVALID error unless d is a whole number of seconds
// between 1s and MaxTTL.
func checkTTL(d time.Duration) error {
	if d < time.Second || d > MaxTTL || d%time.Second != 0 {
		return bluegreen.Errorf(bluegreen.EINVALID, "dns: TTL %v is invalid: want whole seconds from 1s to %v", d, MaxTTL)
	}
	return nil
}

// ColorOf returns the color whose values equal values (in any order, as
// normalizeValues leaves them), or "" when they match neither.
func (r Record) ColorOf(values []string) bluegreen.Color {
	for _, c := range bluegreen.Colors {
		if slices.Equal(r.Values[c], values) {
			return c
		}
	}
	return ""
}

// canonicalName lower-cases s and adds the trailing dot.
func canonicalName(s string) string {
	s = strings.TrimSpace(s)
	if s == "" {
		return ""
	}
	return mdns.CanonicalName(s)
}

// normalizeValues checks one color's values for type typ and returns them
// canonical and sorted.
func normalizeValues(typ string, vals []string) ([]string, error) {
	if len(vals) == 0 {
		return nil, fmt.Errorf("no value: want %s", map[string]string{
			"CNAME": "one target name", "A": "one or more IPv4 addresses", "AAAA": "one or more IPv6 addresses"}[typ])
	}
	if typ == "CNAME" && len(vals) != 1 {
		return nil, fmt.Errorf("%d targets %s: a CNAME has exactly one", len(vals), formatValues(vals))
	}
	out := make([]string, 0, len(vals))
	for _, v := range vals {
		c, err := normalizeValue(typ, v)
		if err != nil {
			return nil, err
		}
		if slices.Contains(out, c) {
			return nil, fmt.Errorf("%q is listed twice", v)
		}
		out = append(out, c)
	}
	slices.Sort(out)
	return out, nil
}

// normalizeValue returns v's canonical text for type typ, or an error saying
// what was expected.
func normalizeValue(typ, v string) (string, error) {
	v = strings.TrimSpace(v)
	switch typ {
	case "CNAME":
		if _, ok := mdns.IsDomainName(v); !ok || v == "" || v == "." {
			return "", fmt.Errorf("target %q is not a domain name", v)
		}
		return mdns.CanonicalName(v), nil
	case "A", "AAAA":
		ip, err := netip.ParseAddr(v)
		if err != nil || ip.Zone() != "" {
			return "", fmt.Errorf("%q is not an IP address", v)
		}
		if typ == "A" && !ip.Is4() {
			return "", fmt.Errorf("%q is not an IPv4 address (an A record holds IPv4 addresses)", v)
		}
		if typ == "AAAA" && (!ip.Is6() || ip.Is4In6()) {
			return "", fmt.Errorf("%q is not an IPv6 address (an AAAA record holds IPv6 addresses)", v)
		}
		return ip.String(), nil
	}
	return "", fmt.Errorf("unsupported type %q", typ)
}

// sameValues reports whether a and b hold the same values, in any order,
// after normalization for typ (values that do not parse compare as text).
func sameValues(typ string, a, b []string) bool {
	return slices.Equal(canonicalSet(typ, a), canonicalSet(typ, b))
}

// canonicalSet normalizes each value it can, keeps the others as they are,
// and sorts the result. It is for comparing what servers answer.
func canonicalSet(typ string, vals []string) []string {
	out := make([]string, 0, len(vals))
	for _, v := range vals {
		if c, err := normalizeValue(typ, v); err == nil {
			v = c
		}
		out = append(out, v)
	}
	slices.Sort(out)
	return out
}

// formatValues renders values for messages: `"a"`, `"a", "b"`, or
// `nothing (no such record)` for none.
func formatValues(vals []string) string {
	if len(vals) == 0 {
		return "nothing (no such record)"
	}
	q := make([]string, len(vals))
	for i, v := range vals {
		q[i] = fmt.Sprintf("%q", v)
	}
	return strings.Join(q, ", ")
}
