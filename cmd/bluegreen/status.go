package main

import (
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/bluegreen/bluegreen"
	"github.com/bluegreen/bluegreen/internal/ghactions"
)

func newStatusCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "status",
		Short: "Show the live color, each color's upstreams, health, release and traffic",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := g.client()
			if err != nil {
				return err
			}
			st, err := c.Status(cmd.Context())
			if err != nil {
				return err
			}
			if g.json() {
				err = writeJSON(g.stdout, st)
			} else {
				printStatus(g, st)
			}
			return g.reportCI(cmd.Context(), c, err, func(*bluegreen.Status) *ghactions.Report { return ghactions.StatusReport(st, gateText) })
		},
	}
}

func printStatus(g *globals, st bluegreen.Status) {
	s := st.State
	prev := string(s.Previous)
	if prev == "" {
		prev = "-"
	}
	fmt.Fprintf(g.stdout, "live: %s since %s (%s), previous: %s, revision %d\n",
		s.Live, stamp(s.Since), ago(st.Now, s.Since), prev, s.Revision)
	if l := s.Lock; l != nil {
		fmt.Fprintf(g.stdout, "lock: held by %s since %s (%s)\n", l.Owner, stamp(l.Since), l.What)
	}
	if d := s.DNSDrain; d != nil && st.Now.Before(d.Until) {
		fmt.Fprintf(g.stdout, "dns: %s is draining by DNS until %s (%s left): resolvers may still hand out its address\n",
			d.Color, stamp(d.Until), d.Until.Sub(st.Now).Round(time.Second))
	}
	if len(st.DNS) > 0 {
		fmt.Fprintf(g.stdout, "dns: %s, as each authoritative server answers it now:\n", st.DNSRecord)
		for _, a := range st.DNS {
			if a.Error != "" {
				fmt.Fprintf(g.stdout, "  %-22s no answer: %s\n", a.Server, a.Error)
				continue
			}
			fmt.Fprintf(g.stdout, "  %-22s %s (%s, TTL %gs)\n", a.Server, strings.Join(a.Values, ", "), orDash(string(a.Color)), a.TTLSeconds)
		}
	}
	if w := s.Watch; w != nil {
		fmt.Fprintf(g.stdout, "watch: %s is watched until %s (%s left); %s keeps running for an instant rollback",
			w.Color, stamp(w.Until), w.Until.Sub(st.Now).Round(time.Second), w.Previous)
		if f := w.Figures; f != nil {
			fmt.Fprintf(g.stdout, "; so far %d requests, %.1f%% 5xx, p99 %.0f ms", f.Requests, 100*f.ErrorRatio, f.P99MS)
			if f.Prometheus != nil {
				fmt.Fprintf(g.stdout, ", prometheus %g", *f.Prometheus)
			}
		}
		fmt.Fprintln(g.stdout)
	}
	fmt.Fprintln(g.stdout)
	tw := tabwriter.NewWriter(g.stdout, 0, 0, 2, ' ', 0)
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
			rel = short(cs.Release.SHA) + " " + ref + " (" + ago(st.Now, cs.Release.DeployedAt) + ")"
		}
		tr := st.Traffic[c]
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%d\t%d\t%d\n", c, role, cs.Health.Status,
			strings.Join(cs.Upstreams, ","), cs.Branch, rel, gateText(cs), tr.Requests, tr.InFlight, tr.Status5xx)
	}
	tw.Flush()
	for _, c := range bluegreen.Colors {
		if h := s.Colors[c].Health; h.Status != bluegreen.HealthHealthy && h.Reason != "" {
			fmt.Fprintf(g.stdout, "\n%s is %s: %s", c, h.Status, h.Reason)
		}
		if cs := s.Colors[c]; cs.Release != nil && cs.Verification != nil && !cs.Verification.Passed &&
			cs.Verification.Deployment == cs.Release.Deployment {
			fmt.Fprintf(g.stdout, "\n%s failed verification: %s", c, cs.Verification.Reason)
		}
	}
	fmt.Fprintln(g.stdout)
}

func short(sha string) string {
	if len(sha) > 12 {
		return sha[:12]
	}
	return sha
}

func newColorCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "color",
		Short: "Print the live color (blue or green); needs no token",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := g.anonClient()
			if err != nil {
				return err
			}
			col, err := c.Color(cmd.Context())
			if err != nil {
				return err
			}
			if g.json() {
				return writeJSON(g.stdout, map[string]string{"color": string(col)})
			}
			fmt.Fprintln(g.stdout, col)
			return nil
		},
	}
}
