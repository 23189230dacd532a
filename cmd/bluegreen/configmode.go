package main

import (
	"fmt"

	"github.com/bluegreen/bluegreen/config"
)

// warnConfigMode warns on stderr when the config file can be written by
// others than its owner (config.CheckMode). The verbs that only read the API
// address and the token file from it warn; serve and a reload refuse.
func (g *globals) warnConfigMode() {
	if err := config.CheckMode(g.configPath); err != nil {
		fmt.Fprintf(g.stderr, "bluegreen: warning: %v\n", err)
	}
}
