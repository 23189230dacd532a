package main

import (
	"fmt"
	"time"

	"github.com/bluegreen/bluegreen/internal/textout"
	"github.com/spf13/cobra"
)

func newDNSCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "dns", Short: "The DNS record a switch moves (switch_mode dns or both)"}
	var ttl time.Duration
	prepare := &cobra.Command{
		Use:   "prepare --ttl 30s",
		Short: "Lower the record's TTL ahead of a planned switch, so that the old color drains quickly",
		Long: "prepare sets the record's TTL (keeping its values, conditionally on them) and waits until every\n" +
			"authoritative server answers it. Switch after the printed time: until then, resolvers may still\n" +
			"hold the answer with the old, longer TTL. The next switch sets dns.ttl from the config again.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if ttl < time.Second {
				return usageErrorf("--ttl %s: want at least 1s", ttl)
			}
			c, err := g.client()
			if err != nil {
				return err
			}
			rep, err := c.DNSPrepare(cmd.Context(), ttl)
			if err != nil {
				return err
			}
			if g.json() {
				return writeJSON(g.stdout, rep)
			}
			fmt.Fprintf(g.stdout, "%s: TTL %gs → %gs (points at %s)\n", rep.Name, rep.OldTTLSeconds, rep.TTLSeconds, textout.OrDash(string(rep.Color)))
			for _, s := range rep.Servers {
				fmt.Fprintf(g.stdout, "  %-22s TTL %gs %s\n", s.Server, s.TTLSeconds, s.Error)
			}
			fmt.Fprintf(g.stdout, "switch after %s: no resolver holds the old TTL any more\n", textout.Stamp(rep.ReadyAt))
			return nil
		},
	}
	prepare.Flags().DurationVar(&ttl, "ttl", 0, "the TTL to set, e.g. 30s")
	_ = prepare.MarkFlagRequired("ttl")
	cmd.AddCommand(prepare)
	return cmd
}
