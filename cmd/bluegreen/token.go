package main

import (
	"cmp"
	"fmt"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/bluegreen/bluegreen"
	"github.com/bluegreen/bluegreen/api"
	"github.com/bluegreen/bluegreen/internal/textout"
)

func newTokenCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "token",
		Short: "Manage API tokens with roles (admin)",
		Long: "Named API tokens have a role: viewer (status, history, logs, metrics), deployer (also deploy,\n" +
			"verify, approve, switch, rollback, sync) or admin (also tokens and lock release --force); or\n" +
			"agent, for the agent of one host (--host): it may call that host's agent routes and nothing else. The\n" +
			"server stores only a hash of each secret; the history records the token's name with every call.\n" +
			"The token in the state directory's api-token file is the admin token.",
	}
	var role, host string
	create := &cobra.Command{
		Use:   "create --name NAME --role viewer|deployer|admin|agent [--host HOST]",
		Short: "Create a token and print its secret (shown once)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			name, _ := cmd.Flags().GetString("name")
			r, err := bluegreen.ParseRole(role)
			if err == nil {
				err = bluegreen.CheckTokenHost(r, host)
			}
			if err != nil {
				return err // EINVALID: exit 2
			}
			c, err := g.client()
			if err != nil {
				return err
			}
			nt, err := c.CreateToken(cmd.Context(), api.TokenRequest{Name: name, Role: r, Host: host})
			if err != nil {
				return err
			}
			if g.json() {
				return writeJSON(g.stdout, nt)
			}
			fmt.Fprintf(g.stderr, "token %q (%s) created; its secret is shown this once:\n", nt.Token.Name, nt.Token.Role)
			fmt.Fprintln(g.stdout, nt.Secret)
			return nil
		},
	}
	create.Flags().String("name", "", "the token's name, recorded with every call it makes (e.g. github-actions)")
	create.Flags().StringVar(&role, "role", "", "viewer, deployer, admin or agent")
	create.Flags().StringVar(&host, "host", "", "the host an agent token acts for (required with --role agent, refused otherwise)")
	_ = create.MarkFlagRequired("name")
	_ = create.MarkFlagRequired("role")

	list := &cobra.Command{
		Use:   "list",
		Short: "List the tokens (never their secrets)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := g.client()
			if err != nil {
				return err
			}
			ts, err := c.Tokens(cmd.Context())
			if err != nil {
				return err
			}
			if g.json() {
				return writeJSON(g.stdout, ts)
			}
			tw := tabwriter.NewWriter(g.stdout, 0, 0, 2, ' ', 0)
			fmt.Fprintln(tw, "NAME\tROLE\tHOST\tCREATED\tBY\tREVOKED")
			for _, t := range ts {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", t.Name, t.Role, cmp.Or(t.Host, "-"), textout.Stamp(t.At), t.By, textout.Stamp(t.Revoked))
			}
			return tw.Flush()
		},
	}
	revoke := &cobra.Command{
		Use:   "revoke NAME",
		Short: "Revoke a token: its calls are refused from now on",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := g.client()
			if err != nil {
				return err
			}
			t, err := c.RevokeToken(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			if g.json() {
				return writeJSON(g.stdout, t)
			}
			fmt.Fprintf(g.stdout, "token %q (%s) revoked\n", t.Name, t.Role)
			return nil
		},
	}
	cmd.AddCommand(create, list, revoke)
	return cmd
}
