package main

import (
	"fmt"
	"strings"

	"github.com/bluegreen/bluegreen"
	"github.com/bluegreen/bluegreen/internal/textout"
)

// printDNS prints how a switch moved the DNS record.
func printDNS(g *globals, r *bluegreen.DNSReport) {
	verb := "now holds"
	if !r.Changed {
		verb = "already held"
	}
	fmt.Fprintf(g.stdout, "DNS: %s %s %s %s (TTL %gs)\n", r.Name, r.Type, verb, strings.Join(r.New, ", "), r.TTLSeconds)
	for _, s := range r.Servers {
		switch {
		case s.Error != "":
			fmt.Fprintf(g.stdout, "  %-22s no answer: %s\n", s.Server, s.Error)
		case s.AfterMS > 0:
			fmt.Fprintf(g.stdout, "  %-22s answers %s after %.0f ms\n", s.Server, s.Color, s.AfterMS)
		default:
			fmt.Fprintf(g.stdout, "  %-22s answers %s\n", s.Server, textout.OrDash(string(s.Color)))
		}
	}
	if r.Propagated {
		fmt.Fprintf(g.stdout, "propagated to all %d authoritative servers in %.0f ms\n", len(r.Servers), r.PropagationMS)
	} else if r.Warning != "" {
		fmt.Fprintf(g.stdout, "warning: %s\n", r.Warning)
	}
	if !r.DrainUntil.IsZero() {
		fmt.Fprintf(g.stdout, "the old color must keep serving until %s: resolvers may hand out its address for the old TTL (%gs) plus a margin\n",
			textout.Stamp(r.DrainUntil), r.OldTTLSeconds)
	}
}
