package bindtest

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// waitTimeout bounds WaitFor and the propagation wait of Set.
const waitTimeout = 10 * time.Second

// Lookup asks this server directly (no recursion) for name's records of type
// typ ("CNAME", "A", "AAAA", ...) and returns their values in presentation
// form (a CNAME target as an FQDN, an address as text), sorted, and their
// TTL. A name without such records gives no values and no error; a server
// that does not answer authoritatively gives an error.
func (n *Named) Lookup(ctx context.Context, name, typ string) (values []string, ttl time.Duration, err error) {
	qtype, ok := dns.StringToType[strings.ToUpper(typ)]
	if !ok {
		return nil, 0, fmt.Errorf("unknown record type %q", typ)
	}
	name = dns.CanonicalName(name)
	q := new(dns.Msg)
	q.SetQuestion(name, qtype)
	q.RecursionDesired = false
	r, err := exchange(ctx, &dns.Client{Timeout: 2 * time.Second}, q, n.Addr)
	if err != nil {
		return nil, 0, fmt.Errorf("%s %s: %w", n.Role, n.Addr, err)
	}
	if r.Rcode != dns.RcodeSuccess && r.Rcode != dns.RcodeNameError {
		return nil, 0, fmt.Errorf("%s %s: %s %s: rcode %s", n.Role, n.Addr, name, typ, dns.RcodeToString[r.Rcode])
	}
	if !r.Authoritative {
		return nil, 0, fmt.Errorf("%s %s: answer for %s is not authoritative", n.Role, n.Addr, name)
	}
	for _, rr := range r.Answer {
		h := rr.Header()
		if h.Rrtype != qtype || !strings.EqualFold(h.Name, name) {
			continue
		}
		values = append(values, rdata(rr))
		ttl = time.Duration(h.Ttl) * time.Second
	}
	slices.Sort(values)
	return values, ttl, nil
}

// rdata is an RR's data in presentation form: the record's text without its
// header ("blue.example.test." for a CNAME, "192.0.2.1" for an A).
func rdata(rr dns.RR) string {
	switch v := rr.(type) {
	case *dns.CNAME:
		return strings.ToLower(v.Target)
	case *dns.A:
		return v.A.String()
	case *dns.AAAA:
		return v.AAAA.String()
	}
	return strings.TrimPrefix(rr.String(), rr.Header().String())
}

// Values returns what this server answers for name and typ now (sorted),
// failing the test when it cannot be asked.
func (n *Named) Values(t testing.TB, name, typ string) []string {
	t.Helper()
	v, _, err := n.Lookup(context.Background(), name, typ)
	if err != nil {
		t.Fatalf("bindtest: %v", err)
	}
	return v
}

// TTL returns the TTL this server answers for name and typ now, failing the
// test when it cannot be asked or holds no such records.
func (n *Named) TTL(t testing.TB, name, typ string) time.Duration {
	t.Helper()
	v, ttl, err := n.Lookup(context.Background(), name, typ)
	if err != nil {
		t.Fatalf("bindtest: %v", err)
	}
	if len(v) == 0 {
		t.Fatalf("bindtest: %s %s holds no %s records", n.Role, name, typ)
	}
	return ttl
}

// WaitFor waits (10s at most) until this server answers exactly want
// (in any order) for name and typ, and fails the test if it does not.
func (n *Named) WaitFor(t testing.TB, name, typ string, want ...string) {
	t.Helper()
	want = slices.Sorted(slices.Values(want))
	deadline := time.Now().Add(waitTimeout)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		got, _, err := n.Lookup(context.Background(), name, typ)
		if err == nil && slices.Equal(got, want) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("bindtest: %s %s still answers %v (error %v) for %s %s after %v, want %v",
				n.Role, n.Addr, got, err, name, typ, waitTimeout, want)
		}
		<-tick.C
	}
}

// Set replaces name's records of type typ on the primary with values (TTL
// ttl), by a TSIG-signed RFC 2136 update without prerequisites: a change
// "by hand" that bypasses the code under test. No values deletes the
// RRset. It waits until every running server answers the new values and
// fails the test on any error.
func (s *Server) Set(t testing.TB, name, typ string, ttl time.Duration, values ...string) {
	t.Helper()
	if err := s.Update(name, typ, ttl, values...); err != nil {
		t.Fatalf("bindtest: %v", err)
	}
	for _, n := range s.Servers() {
		if n.Running() {
			n.WaitFor(t, name, typ, values...)
		}
	}
}

// Update is Set without the wait and without a test: it sends the update
// and returns when the primary accepted it (or why it did not).
func (s *Server) Update(name, typ string, ttl time.Duration, values ...string) error {
	name = dns.CanonicalName(name)
	qtype, ok := dns.StringToType[strings.ToUpper(typ)]
	if !ok {
		return fmt.Errorf("unknown record type %q", typ)
	}
	m := new(dns.Msg)
	m.SetUpdate(s.Zone)
	var rrs []dns.RR
	for _, v := range values {
		rr, err := dns.NewRR(fmt.Sprintf("%s %d IN %s %s", name, int(ttl/time.Second), typ, v))
		if err != nil {
			return fmt.Errorf("record %s %s %s: %v", name, typ, v, err)
		}
		rrs = append(rrs, rr)
	}
	m.RemoveRRset([]dns.RR{&dns.ANY{Hdr: dns.RR_Header{Name: name, Rrtype: qtype, Class: dns.ClassINET}}})
	if len(rrs) > 0 {
		m.Insert(rrs)
	}
	if err := s.update(m); err != nil {
		return fmt.Errorf("setting %s %s to %v: %w", name, typ, values, err)
	}
	return nil
}

// update signs m with the server's key and sends it to the primary over TCP.
func (s *Server) update(m *dns.Msg) error {
	alg := dns.CanonicalName(s.Algorithm)
	m.SetTsig(s.KeyName, alg, 300, time.Now().Unix())
	c := &dns.Client{Net: "tcp", Timeout: 5 * time.Second, TsigSecret: map[string]string{s.KeyName: s.Secret}}
	r, _, err := c.Exchange(m, s.Primary.Addr)
	if r != nil && r.Rcode != dns.RcodeSuccess {
		return fmt.Errorf("primary %s answered %s", s.Primary.Addr, dns.RcodeToString[r.Rcode])
	}
	return err
}
