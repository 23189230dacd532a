package main

import (
	"fmt"

	"github.com/bluegreen/bluegreen/internal/textout"
	"github.com/spf13/cobra"
)

func newLockCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "lock",
		Short: "Show or release the operation lock (held while a deploy or sync runs)",
	}
	status := &cobra.Command{
		Use:   "status",
		Short: "Show who holds the lock, since when, for what",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := g.client()
			if err != nil {
				return err
			}
			l, err := c.Lock(cmd.Context())
			if err != nil {
				return err
			}
			if g.json() {
				return writeJSON(g.stdout, map[string]any{"locked": l != nil, "lock": l})
			}
			if l == nil {
				fmt.Fprintln(g.stdout, "the lock is free")
				return nil
			}
			fmt.Fprintf(g.stdout, "locked by %s since %s (%s), held by %s\n", l.Owner, textout.Stamp(l.Since), l.What, l.Holder)
			return nil
		},
	}
	var force bool
	release := &cobra.Command{
		Use:   "release",
		Short: "Release a lock whose holder is gone (--force: any lock; recorded)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := g.client()
			if err != nil {
				return err
			}
			if err := c.ReleaseLock(cmd.Context(), force); err != nil {
				return err
			}
			if g.json() {
				return writeJSON(g.stdout, map[string]any{"locked": false})
			}
			fmt.Fprintln(g.stdout, "the lock is released")
			return nil
		},
	}
	release.Flags().BoolVar(&force, "force", false, "release even a lock held by a running operation")
	cmd.AddCommand(status, release)
	return cmd
}
