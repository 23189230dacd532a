package main

import (
	"bytes"
	"cmp"
	"fmt"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/bluegreen/bluegreen/agent/sshinstall"
)

// newAgentInstallCmd is `bluegreen agent install user@host[:port]`: the
// host's agent put in place over SSH (agent/sshinstall), then awaited
// until it reports to serve.
func newAgentInstallCmd(g *globals) *cobra.Command {
	var o sshinstall.Options
	var tokenFile, init string
	timeout := 2 * time.Minute
	cmd := &cobra.Command{
		Use:   "install user@host[:port] --host NAME --agent-token-file FILE",
		Short: "Install a host's agent over SSH (binary, 0600 token file, unit), start it, wait until it reports",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			token, err := os.ReadFile(tokenFile)
			if err != nil {
				return usageErrorf("--agent-token-file: %v", err)
			}
			c, err := g.client()
			if err != nil {
				return err
			}
			ctx, cancel, err := withTimeout(cmd.Context(), timeout)
			if err != nil {
				return err
			}
			defer cancel()
			st, err := c.Status(ctx) // serve's clock, and a check of the server and token before the host is touched
			if err != nil {
				return err
			}
			o.Target, o.Init, o.Token = args[0], sshinstall.Init(init), bytes.TrimSpace(token)
			o.Server, o.CAFile = cmp.Or(o.Server, c.BaseURL), cmp.Or(g.caFile, getenv("BLUEGREEN_CA_FILE"))
			o.Progress = func(s sshinstall.Step) { fmt.Fprintln(g.stderr, s.Detail) }
			res, err := sshinstall.Install(ctx, o)
			if err == nil {
				fmt.Fprintf(g.stderr, "started the agent of %s on %s (pid %d); waiting for its report\n", res.Host, res.Target, res.PID)
				_, err = sshinstall.WaitReport(ctx, c.Status, res, st.Now, 0, func(s string) { fmt.Fprintln(g.stderr, s) })
			}
			if err != nil {
				return timedOut(ctx, timeout, err, err.Error())
			}
			if g.json() {
				return writeJSON(g.stdout, res)
			}
			fmt.Fprintf(g.stdout, "the agent of %s runs on %s and reports to %s\n", res.Host, res.Target, o.Server)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.Host, "host", "", "the host's bluegreen name (in a color's hosts:, and of its agent token)")
	f.StringVar(&tokenFile, "agent-token-file", "", "local file holding the agent token (token create --role agent --host NAME)")
	f.StringVar(&o.Server, "agent-server", "", "the API URL the agent calls (default: the server this CLI talks to)")
	f.StringVar(&o.Identity, "identity", "", "SSH private key file (default: the keys of the ssh-agent at SSH_AUTH_SOCK)")
	f.StringVar(&o.KnownHosts, "known-hosts", "", "known_hosts file that must list the host's key (default ~/.ssh/known_hosts)")
	f.StringVar(&o.Dir, "dir", sshinstall.DefaultDir, "the agent's directory on the host")
	f.StringVar(&o.Binary, "binary", "", "the bluegreen binary to copy (default: this one)")
	f.StringVar(&o.RemoteBinary, "remote-binary", sshinstall.DefaultRemoteBinary, "where the binary goes on the host")
	f.StringVar(&init, "init", string(sshinstall.InitSystemd), "how to start the agent: systemd, or none (detached, with a pid file)")
	f.DurationVar(&timeout, "timeout", timeout, "give up after this long (exit 3)")
	_ = cmd.MarkFlagRequired("host")
	_ = cmd.MarkFlagRequired("agent-token-file")
	return cmd
}
