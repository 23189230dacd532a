package dns

import (
	"context"
	"fmt"
	"net"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/bluegreen/bluegreen"
)

// ServerAnswer is what one authoritative server answers for the record.
type ServerAnswer struct {
	// Server is the address asked, "host:port".
	Server string `json:"server"`
	// Values and TTL are its last answer (Values canonical, sorted; none
	// when the record does not exist there).
	Values []string      `json:"values"`
	TTL    time.Duration `json:"ttl"`
	// Color is the color whose values it answers, "" for neither or when
	// it did not answer.
	Color bluegreen.Color `json:"color,omitempty"`
	// Error says why the server gave no usable answer; "" when it did.
	Error string `json:"error,omitempty"`
	// At is when it first answered the awaited values, and After how long
	// that was after the update (zero when it did not, and in Answers).
	At    time.Time     `json:"at,omitzero"`
	After time.Duration `json:"after,omitempty"`
}

// Propagation is how a change reached the authoritative servers.
type Propagation struct {
	// Start is when the provider accepted the change (or when it was found
	// already made).
	Start time.Time `json:"start"`
	// Servers are the servers asked, in the configured (or NS) order.
	Servers []ServerAnswer `json:"servers"`
	// Done is when the last server answered the new values; zero when not
	// all did before the timeout.
	Done time.Time `json:"done,omitzero"`
	// Took is Done - Start, zero when not Done.
	Took time.Duration `json:"took"`
}

// endOrNow returns Done, or now when the propagation did not complete.
func (p Propagation) endOrNow(now time.Time) time.Time {
	if p.Done.IsZero() {
		return now
	}
	return p.Done
}

// PropagationError says that some authoritative servers did not answer the
// new values within the timeout (or before the context ended). The change
// itself was accepted by the provider and stands. It unwraps to an
// EUNAVAILABLE *bluegreen.Error with the same message.
type PropagationError struct {
	// Name and Type identify the record; Want is what was awaited, and
	// TTL the awaited TTL (zero: any).
	Name, Type string
	Want       []string
	TTL        time.Duration
	// Waited is how long the check waited.
	Waited time.Duration
	// Pending are the servers that did not answer Want, with their last
	// answer or error.
	Pending []ServerAnswer
}

// Error names the servers still answering something else and what they
// answer.
func (e *PropagationError) Error() string {
	var parts []string
	for _, a := range e.Pending {
		switch {
		case a.Error != "" && strings.Contains(a.Error, a.Server):
			parts = append(parts, a.Error)
		case a.Error != "":
			parts = append(parts, a.Server+": "+a.Error)
		case e.TTL != 0 && sameValues(e.Type, a.Values, e.Want):
			parts = append(parts, fmt.Sprintf("%s still answers TTL %v", a.Server, a.TTL))
		default:
			parts = append(parts, fmt.Sprintf("%s still answers %s", a.Server, formatValues(a.Values)))
		}
	}
	want := formatValues(e.Want)
	if e.TTL != 0 {
		want += fmt.Sprintf(" with TTL %v", e.TTL)
	}
	return fmt.Sprintf("dns: the change of %s %s to %s was accepted and stands, but after %v not every authoritative server answers it: %s",
		e.Name, e.Type, want, e.Waited.Round(time.Millisecond), strings.Join(parts, "; "))
}

// Unwrap returns the EUNAVAILABLE domain error carrying the same message.
func (e *PropagationError) Unwrap() error {
	return bluegreen.Errorf(bluegreen.EUNAVAILABLE, "%s", e.Error())
}

// Answers asks every authoritative server once, concurrently, what it
// answers for the record now (for `status`). A server that cannot be asked
// has its Error set; the error returned is only for failing to find the
// servers (no servers configured and no NS records).
func (s *Switcher) Answers(ctx context.Context) ([]ServerAnswer, error) {
	servers, err := s.authServers(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]ServerAnswer, len(servers))
	var wg sync.WaitGroup
	for i, addr := range servers {
		wg.Go(func() { out[i] = s.ask(ctx, addr) })
	}
	wg.Wait()
	return out, nil
}

// ask queries one server once.
func (s *Switcher) ask(ctx context.Context, addr string) ServerAnswer {
	a := ServerAnswer{Server: addr}
	vals, ttl, err := query(ctx, addr, s.rec, nil, s.qtimeout)
	if err != nil {
		a.Error = bluegreen.ErrorMessage(err)
		if bluegreen.ErrorCode(err) == bluegreen.EINTERNAL {
			a.Error = err.Error() // a context error: nothing secret in it
		}
		a.Error = strings.TrimPrefix(a.Error, "dns: ")
		return a
	}
	a.Values, a.TTL, a.Color = vals, ttl, s.rec.ColorOf(vals)
	return a
}

// authServers returns the configured servers, or the zone's NS names
// resolved to addresses on port 53.
func (s *Switcher) authServers(ctx context.Context) ([]string, error) {
	if len(s.servers) > 0 {
		return s.servers, nil
	}
	zone := strings.TrimSuffix(s.rec.Zone, ".")
	nss, err := s.resolver.LookupNS(ctx, zone)
	if err != nil {
		return nil, bluegreen.Errorf(bluegreen.EUNAVAILABLE, "dns: finding the authoritative servers of %s (its NS records): %v; configure them explicitly", s.rec.Zone, err)
	}
	var addrs []string
	var failed []string
	for _, ns := range nss {
		hosts, err := s.resolver.LookupHost(ctx, strings.TrimSuffix(ns.Host, "."))
		if err != nil {
			failed = append(failed, fmt.Sprintf("%s: %v", ns.Host, err))
			continue
		}
		for _, h := range hosts {
			if a := net.JoinHostPort(h, "53"); !slices.Contains(addrs, a) {
				addrs = append(addrs, a)
			}
		}
	}
	if len(addrs) == 0 {
		return nil, bluegreen.Errorf(bluegreen.EUNAVAILABLE, "dns: the zone %s has no NS record that resolves to an address (%s); configure its servers explicitly",
			s.rec.Zone, strings.Join(failed, "; "))
	}
	return addrs, nil
}

// propagate polls every authoritative server until each answers want (and,
// if ttl is not zero, that TTL), or the propagation timeout passes. Each
// server has its own goroutine, all ended before it returns.
func (s *Switcher) propagate(ctx context.Context, want []string, ttl time.Duration) (Propagation, error) {
	p := Propagation{Start: s.now()}
	servers, err := s.authServers(ctx)
	if err != nil {
		return p, fmt.Errorf("checking propagation (the change was accepted and stands): %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	p.Servers = make([]ServerAnswer, len(servers))
	var wg sync.WaitGroup
	for i, addr := range servers {
		wg.Go(func() { p.Servers[i] = s.await(ctx, addr, want, ttl, p.Start) })
	}
	wg.Wait()

	var pending []ServerAnswer
	for _, a := range p.Servers {
		if a.At.IsZero() {
			pending = append(pending, a)
		} else if a.At.After(p.Done) {
			p.Done = a.At
		}
	}
	if len(pending) > 0 {
		p.Done = time.Time{}
		return p, &PropagationError{Name: s.rec.Name, Type: s.rec.Type, Want: want, TTL: ttl,
			Waited: s.now().Sub(p.Start), Pending: pending}
	}
	p.Took = p.Done.Sub(p.Start)
	return p, nil
}

// await polls one server until it answers want (and ttl, if not zero) or ctx
// ends, and returns its last answer, with At set when it matched.
func (s *Switcher) await(ctx context.Context, addr string, want []string, ttl time.Duration, start time.Time) ServerAnswer {
	tick := time.NewTicker(s.poll)
	defer tick.Stop()
	var last ServerAnswer
	for {
		a := s.ask(ctx, addr)
		if a.Error == "" || last.Server == "" || ctx.Err() == nil {
			last = a // at the deadline, keep the last real answer over the cut-off query
		}
		if a.Error == "" && slices.Equal(a.Values, want) && (ttl == 0 || a.TTL == ttl) {
			last.At = s.now()
			last.After = last.At.Sub(start)
			return last
		}
		select {
		case <-ctx.Done():
			return last
		case <-tick.C:
		}
	}
}
