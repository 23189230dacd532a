package textout

import (
	"fmt"
	"io"
	"strings"

	"github.com/bluegreen/bluegreen"
)

// DNSReport writes to w how a switch moved the DNS record: what it holds,
// what each authoritative server answers, and until when the old color
// must keep serving.
func DNSReport(w io.Writer, r *bluegreen.DNSReport) {
	verb := "now holds"
	if !r.Changed {
		verb = "already held"
	}
	fmt.Fprintf(w, "DNS: %s %s %s %s (TTL %gs)\n", r.Name, r.Type, verb, strings.Join(r.New, ", "), r.TTLSeconds)
	for _, s := range r.Servers {
		switch {
		case s.Error != "":
			fmt.Fprintf(w, "  %-22s no answer: %s\n", s.Server, s.Error)
		case s.AfterMS > 0:
			fmt.Fprintf(w, "  %-22s answers %s after %.0f ms\n", s.Server, s.Color, s.AfterMS)
		default:
			fmt.Fprintf(w, "  %-22s answers %s\n", s.Server, OrDash(string(s.Color)))
		}
	}
	if r.Propagated {
		fmt.Fprintf(w, "propagated to all %d authoritative servers in %.0f ms\n", len(r.Servers), r.PropagationMS)
	} else if r.Warning != "" {
		fmt.Fprintf(w, "warning: %s\n", r.Warning)
	}
	if !r.DrainUntil.IsZero() {
		fmt.Fprintf(w, "the old color must keep serving until %s: resolvers may hand out its address for the old TTL (%gs) plus a margin\n",
			Stamp(r.DrainUntil), r.OldTTLSeconds)
	}
}
