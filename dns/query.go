package dns

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"
	"syscall"
	"time"

	mdns "github.com/miekg/dns"

	"github.com/bluegreen/bluegreen"
)

// DefaultQueryTimeout bounds one query to one server when no timeout is
// configured.
const DefaultQueryTimeout = 3 * time.Second

// query asks server directly (no recursion) for r's name and type and
// returns what it answers: the values (canonical, sorted; none when the name
// or type does not exist) and their TTL. It sends over UDP and retries over
// TCP when the answer is truncated. With a signer the query is TSIG-signed
// and the answer verified. Errors are *bluegreen.Error values that name the
// server (EUNAVAILABLE, or EREFUSED for a refused key).
//
// When an A or AAAA query finds a CNAME at the name, that CNAME is returned
// as the value "CNAME <target>", so that a mismatch says what is there.
func query(ctx context.Context, server string, r Record, key *signer, timeout time.Duration) ([]string, time.Duration, error) {
	qtype := mdns.StringToType[r.Type]
	m := new(mdns.Msg)
	m.SetQuestion(r.Name, qtype)
	m.RecursionDesired = false
	m.SetEdns0(1232, false)
	c := &mdns.Client{Net: "udp", Timeout: timeout}
	if key != nil {
		key.sign(c, m, time.Now().Unix())
	}
	resp, err := exchange(ctx, c, m, server)
	if err == nil && resp.Truncated {
		// Sending strips the TSIG record from m (miekg's signing does):
		// sign it again for the TCP retry.
		c.Net = "tcp"
		if key != nil {
			key.sign(c, m, time.Now().Unix())
		}
		resp, err = exchange(ctx, c, m, server)
	}
	if err == nil && key != nil && resp != nil && resp.IsTsig() == nil && resp.Rcode != mdns.RcodeNotAuth {
		// miekg verifies a signature only when the answer carries one: an
		// unsigned answer to a signed query is not the key holder's.
		return nil, 0, bluegreen.Errorf(bluegreen.EUNAVAILABLE, "dns: %s answered the signed query for %s %s without a TSIG signature",
			server, r.Name, r.Type)
	}
	if resp != nil && resp.Rcode != mdns.RcodeSuccess && resp.Rcode != mdns.RcodeNameError {
		return nil, 0, rcodeError(resp, server, key, fmt.Sprintf("query for %s %s", r.Name, r.Type))
	}
	if err != nil {
		return nil, 0, netError(err, server, timeout, fmt.Sprintf("query for %s %s", r.Name, r.Type))
	}
	if !resp.Authoritative {
		return nil, 0, bluegreen.Errorf(bluegreen.EUNAVAILABLE, "dns: %s is not authoritative for %s (its answer lacks the AA flag): is the zone %s loaded there?", server, r.Name, r.Zone)
	}
	var vals []string
	ttl := time.Duration(-1)
	for _, rr := range resp.Answer {
		h := rr.Header()
		if !strings.EqualFold(h.Name, r.Name) {
			continue
		}
		var v string
		switch x := rr.(type) {
		case *mdns.CNAME:
			v = mdns.CanonicalName(x.Target)
			if r.Type != "CNAME" {
				v = "CNAME " + v
			}
		case *mdns.A:
			v = x.A.String()
		case *mdns.AAAA:
			v = x.AAAA.String()
		default:
			continue
		}
		if h.Rrtype != qtype && h.Rrtype != mdns.TypeCNAME {
			continue
		}
		vals = append(vals, v)
		if d := time.Duration(h.Ttl) * time.Second; ttl < 0 || d < ttl {
			ttl = d
		}
	}
	if ttl < 0 {
		ttl = 0
	}
	slices.Sort(vals)
	return vals, ttl, nil
}

// exchange sends m to server within ctx and returns the answer. miekg takes
// deadlines from ctx but not its cancellation once the query is sent: this
// waits for either, so a cancelled ctx returns at once.
func exchange(ctx context.Context, c *mdns.Client, m *mdns.Msg, server string) (*mdns.Msg, error) {
	type result struct {
		r   *mdns.Msg
		err error
	}
	done := make(chan result, 1)
	go func() {
		r, _, err := c.ExchangeContext(ctx, m, server)
		done <- result{r, err}
	}()
	select {
	case res := <-done:
		return res.r, res.err
	case <-ctx.Done():
		// The exchange ends by itself at its deadline (c.Timeout at most).
		return nil, ctx.Err()
	}
}

// rcodeError turns a non-success answer into a clear domain error. what
// says what was asked ("update of app.example.test. CNAME").
func rcodeError(resp *mdns.Msg, server string, key *signer, what string) error {
	tsigErr := uint16(0)
	if t := resp.IsTsig(); t != nil {
		tsigErr = t.Error
	}
	rcode := rcodeName(resp.Rcode)
	switch {
	case resp.Rcode == mdns.RcodeNotAuth && tsigErr != 0 && key != nil,
		resp.Rcode == mdns.RcodeNotAuth && key != nil && resp.IsTsig() == nil:
		detail := rcode
		if tsigErr != 0 {
			detail = rcode + ", " + rcodeName(int(tsigErr))
		}
		hint := "wrong secret or key name?"
		if tsigErr == mdns.RcodeBadTime {
			hint = "is this machine's clock off by more than 5 minutes?"
		}
		return bluegreen.Errorf(bluegreen.EREFUSED, "dns: the server %s refused the TSIG key %s (%s) on the %s: %s", server, key.name, detail, what, hint)
	case resp.Rcode == mdns.RcodeNotAuth:
		return bluegreen.Errorf(bluegreen.EREFUSED, "dns: the server %s is not authoritative for the %s (NOTAUTH): is it the zone's primary?", server, what)
	case resp.Rcode == mdns.RcodeRefused && !strings.HasPrefix(what, "update"):
		return bluegreen.Errorf(bluegreen.EUNAVAILABLE, "dns: the server %s refused the %s (REFUSED): does it serve the zone, and allow queries from here?", server, what)
	case resp.Rcode == mdns.RcodeRefused:
		return bluegreen.Errorf(bluegreen.EREFUSED, "dns: the server %s refused the %s by policy (REFUSED): does it serve the zone, and does its update-policy (or allow-update) grant the key this name and type?", server, what)
	case resp.Rcode == mdns.RcodeNotZone:
		return bluegreen.Errorf(bluegreen.EINVALID, "dns: the server %s says the name is outside the zone for the %s (NOTZONE): check the record's zone", server, what)
	case (resp.Rcode == mdns.RcodeNotImplemented || resp.Rcode == mdns.RcodeFormatError) && strings.HasPrefix(what, "update"):
		// The server did not take the update at all: nothing was applied.
		return bluegreen.Errorf(bluegreen.EREFUSED, "dns: the server %s does not take the %s (%s): does it support RFC 2136 dynamic updates for this zone?", server, what, rcode)
	case resp.Rcode == mdns.RcodeServerFailure:
		return bluegreen.Errorf(bluegreen.EUNAVAILABLE, "dns: the server %s failed the %s (SERVFAIL): is the zone loaded? see its log", server, what)
	}
	return bluegreen.Errorf(bluegreen.EUNAVAILABLE, "dns: the server %s answered the %s with %s", server, what, rcode)
}

func rcodeName(rc int) string {
	if s, ok := mdns.RcodeToString[rc]; ok {
		return s
	}
	return fmt.Sprintf("RCODE%d", rc)
}

// netError turns a transport error into a domain error naming the server.
func netError(err error, server string, timeout time.Duration, what string) error {
	var ne net.Error
	switch {
	case errors.Is(err, context.Canceled):
		return fmt.Errorf("dns: %s to %s: %w", what, server, err)
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		return bluegreen.Errorf(bluegreen.EUNAVAILABLE, "dns: no answer from %s to the %s within %v", server, what, timeout)
	case errors.Is(err, syscall.ECONNREFUSED):
		return bluegreen.Errorf(bluegreen.EUNAVAILABLE, "dns: cannot reach %s for the %s: connection refused (is the server running, on this port?)", server, what)
	case errors.Is(err, mdns.ErrSig), errors.Is(err, mdns.ErrTime), errors.Is(err, mdns.ErrNoSig), errors.Is(err, mdns.ErrSecret), errors.Is(err, mdns.ErrKeyAlg):
		return bluegreen.Errorf(bluegreen.EUNAVAILABLE, "dns: the answer of %s to the %s failed TSIG verification (%v)", server, what, err)
	}
	return bluegreen.Errorf(bluegreen.EUNAVAILABLE, "dns: %s to %s failed: %v", what, server, err)
}
