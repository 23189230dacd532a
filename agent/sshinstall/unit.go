package sshinstall

import (
	"fmt"
	"path"
	"strings"
)

// agentArgs is the agent's command line after the binary: the verb
// `bluegreen agent` with the global flags that name its server, token and
// CA.
func agentArgs(o Options) []string {
	args := []string{"agent", "--host", o.Host, "--dir", o.Dir, "--server", o.Server, "--token-file", o.TokenFile}
	if o.CAFile != "" {
		args = append(args, "--ca-file", path.Join(o.Dir, CAFileName))
	}
	return args
}

// unitTemplate is examples/systemd/bluegreen-agent.service with its
// values left out: the host name (twice) and the ExecStart command line.
// TestUnitFollowsTheShippedOne keeps the two in step.
const unitTemplate = `# The bluegreen agent of host %s, written by ` + "`bluegreen agent install`" + `
# (from examples/systemd/bluegreen-agent.service); a re-install rewrites it.

[Unit]
Description=bluegreen agent (host %s)
After=network-online.target
Wants=network-online.target

[Service]
Type=simple
ExecStart=%s
# Stop (and a restart) signals the agent only: the app's supervisor
# outlives it, and the next agent re-adopts the app.
KillMode=process
Restart=always
RestartSec=1
# An agent stopped while it starts the app finishes that first.
TimeoutStopSec=180

[Install]
WantedBy=multi-user.target
`

// unitText is the agent's systemd unit for o.
func unitText(o Options) (string, error) {
	words := append([]string{o.RemoteBinary}, agentArgs(o)...)
	for i, w := range words {
		q, err := unitQuote(w)
		if err != nil {
			return "", err
		}
		words[i] = q
	}
	// o.Host is a valid host name (a-z, 0-9, -): safe as it is.
	return fmt.Sprintf(unitTemplate, o.Host, o.Host, strings.Join(words, " ")), nil
}
