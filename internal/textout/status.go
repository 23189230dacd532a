package textout

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/bluegreen/bluegreen"
)

// Status writes the report of `bluegreen status` to w: the live color,
// the lock, DNS, the watch, the state store and the instances sharing it,
// then a table of both colors, a line per host of a color that lists
// hosts, and what is wrong with them.
func Status(w io.Writer, st bluegreen.Status) {
	s := st.State
	prev := string(s.Previous)
	if prev == "" {
		prev = "-"
	}
	fmt.Fprintf(w, "live: %s since %s (%s), previous: %s, revision %d\n",
		s.Live, Stamp(s.Since), Ago(st.Now, s.Since), prev, s.Revision)
	if l := s.Lock; l != nil {
		fmt.Fprintf(w, "lock: held by %s since %s (%s)\n", l.Owner, Stamp(l.Since), l.What)
	}
	if d := s.DNSDrain; d != nil && st.Now.Before(d.Until) {
		fmt.Fprintf(w, "dns: %s is draining by DNS until %s (%s left): resolvers may still hand out its address\n",
			d.Color, Stamp(d.Until), d.Until.Sub(st.Now).Round(time.Second))
	}
	if len(st.DNS) > 0 {
		fmt.Fprintf(w, "dns: %s, as each authoritative server answers it now:\n", st.DNSRecord)
		for _, a := range st.DNS {
			if a.Error != "" {
				fmt.Fprintf(w, "  %-22s no answer: %s\n", a.Server, a.Error)
				continue
			}
			fmt.Fprintf(w, "  %-22s %s (%s, TTL %gs)\n", a.Server, strings.Join(a.Values, ", "), OrDash(string(a.Color)), a.TTLSeconds)
		}
	}
	if wa := s.Watch; wa != nil {
		fmt.Fprintf(w, "watch: %s is watched until %s (%s left); %s keeps running for an instant rollback",
			wa.Color, Stamp(wa.Until), wa.Until.Sub(st.Now).Round(time.Second), wa.Previous)
		if f := wa.Figures; f != nil {
			fmt.Fprintf(w, "; so far %d requests, %.1f%% 5xx, p99 %.0f ms", f.Requests, 100*f.ErrorRatio, f.P99MS)
			if f.Prometheus != nil {
				fmt.Fprintf(w, ", prometheus %g", *f.Prometheus)
			}
		}
		fmt.Fprintln(w)
	}
	if ss := st.Store; ss != nil && ss.UnreachableSince != nil {
		fmt.Fprintf(w, "state store: %s is UNREACHABLE since %s (%s): this router serves the last color it saw; changes are refused until it is back (%s)\n",
			ss.Where, Stamp(*ss.UnreachableSince), Ago(st.Now, *ss.UnreachableSince), ss.Error)
	}
	instances(w, st)
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "COLOR\tROLE\tHEALTH\tUPSTREAMS\tBRANCH\tRELEASE\tGATES\tREQUESTS\tIN-FLIGHT\t5XX")
	for _, c := range bluegreen.Colors {
		cs := s.Colors[c]
		role := "preview"
		if c == s.Live {
			role = "live"
		}
		rel := "-"
		if cs.Release != nil {
			ref := cs.Release.Ref
			if ref == cs.Release.SHA {
				ref = "(synced)" // sync deploys the live color's exact commit
			}
			rel = Short(cs.Release.SHA) + " " + ref + " (" + Ago(st.Now, cs.Release.DeployedAt) + ")"
		}
		tr := st.Traffic[c]
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%d\t%d\t%d\n", c, role, cs.Health.Status,
			strings.Join(cs.Upstreams, ","), cs.Branch, rel, Gates(cs), tr.Requests, tr.InFlight, tr.Status5xx)
	}
	tw.Flush()
	hosts(w, st)
	for _, c := range bluegreen.Colors {
		if h := s.Colors[c].Health; h.Status != bluegreen.HealthHealthy && h.Reason != "" {
			fmt.Fprintf(w, "\n%s is %s: %s", c, h.Status, h.Reason)
		}
		if cs := s.Colors[c]; cs.Release != nil && cs.Verification != nil && !cs.Verification.Passed &&
			cs.Verification.Deployment == cs.Release.Deployment {
			fmt.Fprintf(w, "\n%s failed verification: %s", c, cs.Verification.Reason)
		}
	}
	fmt.Fprintln(w)
}

// hosts writes one line per host of the colors that list hosts: its
// agent, when any host has one (version, when it last reported, the
// release and app pid it runs), and its last health probe.
func hosts(w io.Writer, st bluegreen.Status) {
	s := st.State
	agents := false
	for _, c := range bluegreen.Colors {
		for _, h := range s.Colors[c].Health.Hosts {
			agents = agents || h.Agent != nil
		}
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, c := range bluegreen.Colors {
		for _, h := range s.Colors[c].Health.Hosts {
			verdict := "healthy"
			if !h.Healthy {
				verdict = "UNHEALTHY: " + h.Reason
			}
			if agents {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", c, OrDash(h.Name), h.Address, agentLine(st.Now, h.Agent), verdict)
			} else {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", c, OrDash(h.Name), h.Address, verdict)
			}
		}
	}
	tw.Flush()
}

// agentLine says what a host's agent last reported.
func agentLine(now time.Time, a *bluegreen.AgentSeen) string {
	if a == nil {
		return "no agent report"
	}
	r := a.Report
	runs := "runs nothing"
	switch {
	case r.Release != "" && r.AppPID > 0:
		runs = fmt.Sprintf("runs %s (pid %d)", Short(r.Release), r.AppPID)
	case r.Release != "":
		runs = fmt.Sprintf("runs %s (app down)", Short(r.Release))
	}
	return fmt.Sprintf("agent %s, seen %s, %s", OrDash(r.Version), Ago(now, a.LastSeen), runs)
}

// instances writes the table of the serve instances sharing the state,
// when there are any.
func instances(w io.Writer, st bluegreen.Status) {
	if len(st.Instances) == 0 {
		return
	}
	where := ""
	if st.Store != nil {
		where = " on " + st.Store.Where
	}
	fmt.Fprintf(w, "\n%d serve instances%s:\n", len(st.Instances), where)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "INSTANCE\tROLE\tSERVES\tREVISION\tHEARTBEAT\tAPI")
	for _, in := range st.Instances {
		id := in.ID
		if in.Self {
			id += " (this one)"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\t%s\n", id, in.Role, OrDash(string(in.Color)), in.Revision, Ago(st.Now, in.Heartbeat), in.Address)
	}
	tw.Flush()
}
