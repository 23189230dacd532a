package dns

import (
	"context"
	"net"
	"net/netip"
	"time"

	mdns "github.com/miekg/dns"

	"github.com/bluegreen/bluegreen"
)

// RFC2136Config configures an RFC2136 provider.
type RFC2136Config struct {
	// Server is the zone's primary server, "host:port" (":53" when no port
	// is given). Updates must go to the primary; secondaries learn of them
	// by NOTIFY and zone transfer.
	Server string
	// Key signs every query and update (TSIG). The primary must know it,
	// and its update-policy must grant it the record's name and type.
	Key TSIGKey
	// Timeout bounds one exchange with the server; DefaultQueryTimeout when
	// zero.
	Timeout time.Duration
}

// RFC2136 is a Provider that changes records by RFC 2136 dynamic updates
// sent to the zone's primary server (BIND, Knot, PowerDNS...), signed with a
// TSIG key. Replace is atomic on the server: the update carries a
// value-dependent "RRset exists" prerequisite (RFC 2136 section 2.4.2) for
// the `from` values, so the server applies the change only if the record
// holds exactly those values, in the same transaction.
//
// Updates go over TCP only: a UDP update whose answer is lost cannot be
// retried safely (the retry would fail its prerequisite, since the first one
// was applied) and TCP gives one answer per request. Reads (Current) go over
// UDP, retried over TCP when truncated, and are signed too, so the answer
// is the primary's.
//
// The secret never appears in errors, logs or String. RFC2136 is safe for
// concurrent use.
type RFC2136 struct {
	server  string
	key     *signer
	timeout time.Duration
}

var _ Provider = (*RFC2136)(nil)

// NewRFC2136 checks cfg and returns the provider. It returns an EINVALID
// *bluegreen.Error for a malformed server address or key. It does not
// contact the server.
func NewRFC2136(cfg RFC2136Config) (*RFC2136, error) {
	server, err := serverAddr(cfg.Server)
	if err != nil {
		return nil, err
	}
	if err := cfg.Key.Validate(); err != nil {
		return nil, err
	}
	if cfg.Timeout < 0 {
		return nil, bluegreen.Errorf(bluegreen.EINVALID, "dns: rfc2136 timeout %v is negative", cfg.Timeout)
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = DefaultQueryTimeout
	}
	return &RFC2136{server: server, key: cfg.Key.signer(), timeout: cfg.Timeout}, nil
}

// serverAddr checks a "host:port" or "host" address and adds port 53.
func serverAddr(s string) (string, error) {
	if s == "" {
		return "", bluegreen.Errorf(bluegreen.EINVALID, "dns: no server address: want host:port of the zone's primary, e.g. \"ns1.example.com:53\"")
	}
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		// No port: a bare host name or address (IPv6 without brackets too).
		if _, perr := netip.ParseAddr(s); perr == nil || !containsColon(s) {
			return net.JoinHostPort(s, "53"), nil
		}
		return "", bluegreen.Errorf(bluegreen.EINVALID, "dns: server address %q is not host:port (%v)", s, err)
	}
	if host == "" || port == "" {
		return "", bluegreen.Errorf(bluegreen.EINVALID, "dns: server address %q is not host:port", s)
	}
	if _, err := net.LookupPort("udp", port); err != nil {
		return "", bluegreen.Errorf(bluegreen.EINVALID, "dns: server address %q has an invalid port", s)
	}
	return s, nil
}

func containsColon(s string) bool {
	for i := range len(s) {
		if s[i] == ':' {
			return true
		}
	}
	return false
}

// String names the server and the key, never the secret.
func (p *RFC2136) String() string { return "rfc2136 " + p.server + " with " + p.key.String() }

// Current asks the primary (a signed query) what r holds.
func (p *RFC2136) Current(ctx context.Context, r Record) ([]string, time.Duration, error) {
	return query(ctx, p.server, r, p.key, p.timeout)
}

// Replace sends one signed update to the primary: prerequisite "r holds
// exactly from", delete r's RRset, add `to` with TTL ttl. The server applies
// all of it or nothing. A failed prerequisite gives a *MismatchError with
// what the record holds (read after the refusal).
func (p *RFC2136) Replace(ctx context.Context, r Record, from, to []string, ttl time.Duration) error {
	if len(from) == 0 || len(to) == 0 {
		return bluegreen.Errorf(bluegreen.EINVALID, "dns: replace %s %s needs the values it holds and the values to set (got %d and %d)", r.Name, r.Type, len(from), len(to))
	}
	if err := checkTTL(ttl); err != nil {
		return err
	}
	prereq, err := rrs(r, from, 0)
	if err != nil {
		return err
	}
	add, err := rrs(r, to, ttl)
	if err != nil {
		return err
	}
	m := new(mdns.Msg)
	m.SetUpdate(r.Zone)
	m.Used(prereq)
	m.RemoveRRset([]mdns.RR{&mdns.ANY{Hdr: mdns.RR_Header{Name: r.Name, Rrtype: mdns.StringToType[r.Type], Class: mdns.ClassINET}}})
	m.Insert(add)
	c := &mdns.Client{Net: "tcp", Timeout: p.timeout}
	p.key.sign(c, m, time.Now().Unix())

	what := "update of " + r.Name + " " + r.Type
	resp, err := exchange(ctx, c, m, p.server)
	if resp != nil {
		switch resp.Rcode {
		case mdns.RcodeSuccess:
			if err != nil { // applied, but the answer's signature did not verify
				return netError(err, p.server, p.timeout, what)
			}
			if resp.IsTsig() == nil {
				// Not the key holder's answer: whether the update applied is
				// read back (signed) by the caller.
				return bluegreen.Errorf(bluegreen.EUNAVAILABLE, "dns: %s answered the signed %s without a TSIG signature (the update may or may not have been applied)",
					p.server, what)
			}
			return nil
		case mdns.RcodeNXRrset, mdns.RcodeYXRrset, mdns.RcodeNameError, mdns.RcodeYXDomain:
			holds, _, qerr := p.Current(ctx, r)
			if qerr != nil {
				return bluegreen.Errorf(bluegreen.EREFUSED, "dns: the primary %s refused the %s: the record no longer holds %s (%s), and reading what it holds failed: %v",
					p.server, what, formatValues(from), rcodeName(resp.Rcode), bluegreen.ErrorMessage(qerr))
			}
			return &MismatchError{Name: r.Name, Type: r.Type, Want: canonicalSet(r.Type, from), Holds: holds}
		}
		return rcodeError(resp, p.server, p.key, what)
	}
	err = netError(err, p.server, p.timeout, what)
	if bluegreen.ErrorCode(err) == bluegreen.EUNAVAILABLE {
		return bluegreen.Errorf(bluegreen.EUNAVAILABLE, "%s (the update may or may not have been applied)", bluegreen.ErrorMessage(err))
	}
	return err
}

// rrs builds r's resource records holding vals with TTL ttl.
func rrs(r Record, vals []string, ttl time.Duration) ([]mdns.RR, error) {
	out := make([]mdns.RR, 0, len(vals))
	for _, v := range vals {
		c, err := normalizeValue(r.Type, v)
		if err != nil {
			return nil, bluegreen.Errorf(bluegreen.EINVALID, "dns: %s %s: %v", r.Name, r.Type, err)
		}
		h := mdns.RR_Header{Name: r.Name, Rrtype: mdns.StringToType[r.Type], Class: mdns.ClassINET, Ttl: uint32(ttl / time.Second)}
		switch r.Type {
		case "CNAME":
			out = append(out, &mdns.CNAME{Hdr: h, Target: c})
		case "A":
			out = append(out, &mdns.A{Hdr: h, A: net.ParseIP(c).To4()})
		case "AAAA":
			out = append(out, &mdns.AAAA{Hdr: h, AAAA: net.ParseIP(c)})
		}
	}
	return out, nil
}
