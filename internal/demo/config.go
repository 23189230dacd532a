package demo

import (
	"fmt"
	"strconv"
	"strings"
)

// AppConfig builds the YAML configuration of a pair of colors deployed from
// one git repository, on this machine: every listener on 127.0.0.1 at a
// port the kernel picks, blue from branch production and green from branch
// green, each on its own port with a /healthz health check every 200 ms.
// The demo and the end-to-end tests write theirs with it; what differs
// between them (state, router, watch, the app's run, build, hooks...) is
// given as YAML text.
type AppConfig struct {
	// Comment is a first line, without its "# ", when not empty.
	Comment string
	// Top is top-level settings (state, router, watch...), YAML at column 0,
	// written after the listeners.
	Top string
	// Repo is the app's git repository (app.repo), written quoted.
	Repo string
	// App is the app section's other settings, each line indented by two
	// spaces, written after app.repo.
	App string
	// BluePort and GreenPort are the ports the colors' apps listen on
	// (see FreePort).
	BluePort, GreenPort int
}

// YAML returns the configuration file's text.
func (c AppConfig) YAML() string {
	var b strings.Builder
	if c.Comment != "" {
		fmt.Fprintf(&b, "# %s\n", c.Comment)
	}
	b.WriteString("listen: 127.0.0.1:0\npreview: 127.0.0.1:0\napi: 127.0.0.1:0\n")
	writeLines(&b, c.Top)
	fmt.Fprintf(&b, "app:\n  repo: %s\n", strconv.Quote(c.Repo))
	writeLines(&b, c.App)
	for _, col := range []struct {
		name, branch string
		port         int
	}{{"blue", "production", c.BluePort}, {"green", "green", c.GreenPort}} {
		fmt.Fprintf(&b, "%s:\n  branch: %s\n  port: %d\n  health: {path: /healthz, interval: 200ms, timeout: 150ms}\n",
			col.name, col.branch, col.port)
	}
	return b.String()
}

// writeLines writes text followed by a line break, nothing for empty text.
func writeLines(b *strings.Builder, text string) {
	if text = strings.TrimRight(text, "\n"); text != "" {
		b.WriteString(text + "\n")
	}
}
