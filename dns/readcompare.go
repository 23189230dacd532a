package dns

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/bluegreen/bluegreen"
)

// RRsetAPI reads and writes one RRset at a DNS hosting API that has no
// conditional write (the libdns providers of dns/cloud implement it; that
// package does not import this one, so that it does not pull in miekg/dns).
// Implementations must be safe for concurrent use and keep credentials out
// of their errors.
type RRsetAPI interface {
	// GetRRset returns the values of name's records of type typ ("CNAME",
	// "A", "AAAA") in zone, and their TTL; none when there are none (not an
	// error). zone and name are FQDNs with the trailing dot. A CNAME found
	// at the name of an A or AAAA query is returned as "CNAME <target>".
	GetRRset(ctx context.Context, zone, name, typ string) (values []string, ttl time.Duration, err error)
	// SetRRset makes name's records of type typ hold exactly values (in
	// canonical text: FQDN targets, addresses) with TTL ttl.
	SetRRset(ctx context.Context, zone, name, typ string, values []string, ttl time.Duration) error
}

// ReadCompareWrite returns a Provider over api. Current is GetRRset.
// Replace reads the RRset, and only if it holds exactly `from` writes `to`;
// otherwise it returns a *MismatchError and writes nothing. It is NOT
// atomic: a change made by someone else between the read and the write (one
// API round trip) is overwritten. Prefer RFC2136 where the DNS server
// offers it.
func ReadCompareWrite(api RRsetAPI) Provider { return readCompareWrite{api} }

type readCompareWrite struct{ api RRsetAPI }

// String names the API (its own String when it has one).
func (p readCompareWrite) String() string {
	if s, ok := p.api.(fmt.Stringer); ok {
		return s.String() + " (read-compare-write)"
	}
	return "read-compare-write provider"
}

// Current implements Provider.
func (p readCompareWrite) Current(ctx context.Context, r Record) ([]string, time.Duration, error) {
	vals, ttl, err := p.api.GetRRset(ctx, r.Zone, r.Name, r.Type)
	if err != nil {
		return nil, 0, err
	}
	return canonicalSet(r.Type, vals), ttl, nil
}

// Replace implements Provider: read, compare with from, then write (not atomic).
func (p readCompareWrite) Replace(ctx context.Context, r Record, from, to []string, ttl time.Duration) error {
	if len(from) == 0 || len(to) == 0 {
		return bluegreen.Errorf(bluegreen.EINVALID, "dns: replace %s %s needs the values it holds and the values to set (got %d and %d)", r.Name, r.Type, len(from), len(to))
	}
	if err := checkTTL(ttl); err != nil {
		return err
	}
	target, err := normalizeValues(r.Type, to)
	if err != nil {
		return bluegreen.Errorf(bluegreen.EINVALID, "dns: %s %s: %v", r.Name, r.Type, err)
	}
	holds, _, err := p.Current(ctx, r)
	if err != nil {
		return err
	}
	if want := canonicalSet(r.Type, from); !slices.Equal(holds, want) {
		return &MismatchError{Name: r.Name, Type: r.Type, Want: want, Holds: holds}
	}
	return p.api.SetRRset(ctx, r.Zone, r.Name, r.Type, target, ttl)
}
