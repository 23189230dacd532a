// Package cloud reaches DNS hosting APIs through libdns
// (github.com/libdns/libdns): Cloudflare and Route53. Each provider
// implements dns.RRsetAPI (read an RRset, set an RRset); wrap it with
// dns.ReadCompareWrite to get a dns.Provider:
//
//	api, err := cloud.NewCloudflare(cloud.CloudflareConfig{APIToken: token})
//	provider := dns.ReadCompareWrite(api)
//
// This package does not import package dns (so that it does not pull in
// miekg/dns); it satisfies dns.RRsetAPI by its method set.
//
// These APIs offer no conditional write on a record's values, so a switch
// through them reads the record, compares it, then writes: a change made by
// someone else between the read and the write (one API round trip) is
// overwritten. The RFC2136 provider of package dns does not have that
// window.
//
// Neither provider is tested against its real API here (the test machines
// have no network): the tests check that they construct from their settings
// and reject bad ones, and test the record mapping against an in-memory
// libdns zone. Tokens and keys never appear in errors, logs or String
// output; this package logs nothing.
package cloud

import (
	"context"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/libdns/libdns"

	"github.com/bluegreen/bluegreen"
)

// Zone is what Provider needs from a libdns provider: read a zone's records
// and set RRsets.
type Zone interface {
	libdns.RecordGetter
	libdns.RecordSetter
}

// Provider adapts a libdns provider to dns.RRsetAPI. It is safe for
// concurrent use when the libdns provider is (libdns requires it).
type Provider struct {
	name string // "cloudflare", "route53": for messages
	zone Zone
}

// New wraps a libdns provider; name says which one in messages (e.g.
// "cloudflare"). NewCloudflare and NewRoute53 build the two supported ones.
func New(name string, z Zone) *Provider { return &Provider{name: name, zone: z} }

// String names the provider, never its credentials.
func (p *Provider) String() string { return p.name }

// GetRRset lists the zone's records and returns the values of name's
// records of type typ, and their TTL. A CNAME at the name of an A or AAAA
// query is returned as "CNAME <target>", so that a mismatch says what is
// there. Errors are EUNAVAILABLE *bluegreen.Error values.
func (p *Provider) GetRRset(ctx context.Context, zone, name, typ string) ([]string, time.Duration, error) {
	recs, err := p.zone.GetRecords(ctx, zone)
	if err != nil {
		return nil, 0, bluegreen.Errorf(bluegreen.EUNAVAILABLE, "%s: reading the records of zone %s: %v", p.name, zone, err)
	}
	var vals []string
	ttl := time.Duration(-1)
	for _, rec := range recs {
		rr := rec.RR()
		if !strings.EqualFold(fqdn(libdns.AbsoluteName(rr.Name, zone)), fqdn(name)) {
			continue
		}
		v := strings.TrimSpace(rr.Data)
		switch {
		case strings.EqualFold(rr.Type, typ):
			if strings.EqualFold(typ, "CNAME") {
				v = fqdn(v)
			}
		case strings.EqualFold(rr.Type, "CNAME"):
			v = "CNAME " + fqdn(v)
		default:
			continue
		}
		vals = append(vals, v)
		if ttl < 0 || rr.TTL < ttl {
			ttl = rr.TTL
		}
	}
	if ttl < 0 {
		ttl = 0
	}
	slices.Sort(vals)
	return vals, ttl, nil
}

// SetRRset makes name's records of type typ hold exactly values, with TTL
// ttl (libdns SetRecords). Errors are EINVALID for a value that does not
// fit the type, EUNAVAILABLE when the API fails (the change may then be
// partly applied: libdns does not promise atomicity).
func (p *Provider) SetRRset(ctx context.Context, zone, name, typ string, values []string, ttl time.Duration) error {
	rel := libdns.RelativeName(fqdn(name), zone)
	recs := make([]libdns.Record, 0, len(values))
	for _, v := range values {
		switch strings.ToUpper(typ) {
		case "CNAME":
			recs = append(recs, libdns.CNAME{Name: rel, TTL: ttl, Target: fqdn(v)})
		case "A", "AAAA":
			ip, err := netip.ParseAddr(v)
			if err != nil {
				return bluegreen.Errorf(bluegreen.EINVALID, "%s: %s %s: %q is not an IP address", p.name, name, typ, v)
			}
			recs = append(recs, libdns.Address{Name: rel, TTL: ttl, IP: ip})
		default:
			return bluegreen.Errorf(bluegreen.EINVALID, "%s: record type %q is not supported: want CNAME, A or AAAA", p.name, typ)
		}
	}
	if _, err := p.zone.SetRecords(ctx, zone, recs); err != nil {
		return bluegreen.Errorf(bluegreen.EUNAVAILABLE, "%s: setting %s %s to %s: %v (the change may be partly applied)",
			p.name, name, typ, strings.Join(values, ", "), err)
	}
	return nil
}

// fqdn adds the trailing dot (Cloudflare returns names without it).
func fqdn(s string) string {
	if s == "" || strings.HasSuffix(s, ".") {
		return s
	}
	return s + "."
}

// errMissing is the error for a required setting.
func errMissing(provider, setting, want string) error {
	return bluegreen.Errorf(bluegreen.EINVALID, "%s: %s is missing: %s", provider, setting, want)
}

// cleanToken trims the whitespace around a token (a token read from a file
// ends with a newline) and rejects an empty one or one with whitespace
// inside, without showing it.
func cleanToken(provider, setting string, token bluegreen.Secret, want string) (string, error) {
	t := strings.TrimSpace(token.Reveal())
	if t == "" {
		return "", errMissing(provider, setting, want)
	}
	if strings.ContainsAny(t, " \t\r\n") {
		return "", bluegreen.Errorf(bluegreen.EINVALID, "%s: %s contains whitespace: want the token alone", provider, setting)
	}
	return t, nil
}
