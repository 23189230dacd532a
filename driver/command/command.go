// Package command is the command app driver: the team's own deploy, stop
// and status scripts start and stop each color's app, run with the same
// environment as build steps, while bluegreen still takes the lock, checks
// health, switches and records history.
package command

import (
	"context"
	"fmt"
	"time"

	"github.com/bluegreen/bluegreen"
	"github.com/bluegreen/bluegreen/runner"
)

// Config is what a Driver runs.
type Config struct {
	// Deploy runs in the release directory to start a color's app; Stop
	// stops it and must succeed when nothing runs; Status (optional) exits
	// 0 when the color's app runs.
	Deploy, Stop, Status string
	// Dir is where Stop and Status run: the configuration's directory.
	Dir string
	// Env is the environment of Stop and Status (BLUEGREEN_COLOR and PORT
	// are added per color).
	Env []string
	// Ports are each color's ports; the first is passed as PORT.
	Ports map[bluegreen.Color][]int
}

// Driver runs a Config's commands. It keeps no state, so it is safe for
// concurrent use; whether two commands of one color may overlap is the
// scripts' business (the controller's lock prevents it).
type Driver struct {
	cfg Config
}

// New returns a Driver for cfg.
func New(cfg Config) *Driver { return &Driver{cfg: cfg} }

// Start runs the deploy command in the release directory dir with env
// (the controller's app driver). A failure's error ends with the command's
// last lines of output.
func (d *Driver) Start(ctx context.Context, c bluegreen.Color, rel, dir string, env []string) error {
	res, err := runner.Run(ctx, runner.Cmd{Command: d.cfg.Deploy, Dir: dir, Env: env}, nil)
	if err != nil {
		return fmt.Errorf("the deploy command: %w\n%s", err, res.TailText(10))
	}
	return nil
}

// Stop runs the stop command for color c, which must succeed when nothing
// runs.
func (d *Driver) Stop(ctx context.Context, c bluegreen.Color) error {
	res, err := runner.Run(ctx, runner.Cmd{Command: d.cfg.Stop, Dir: d.cfg.Dir, Env: d.colorEnv(c)}, nil)
	if err != nil {
		return fmt.Errorf("the stop command: %w\n%s", err, res.TailText(10))
	}
	return nil
}

// Statuses runs the optional status command for each color (exit 0: the
// app runs) and says what it found, for the history at the server's start.
// Without a status command it returns an empty map.
func (d *Driver) Statuses(ctx context.Context) map[bluegreen.Color]string {
	found := map[bluegreen.Color]string{}
	if d.cfg.Status == "" {
		return found
	}
	for _, c := range bluegreen.Colors {
		res, err := runner.Run(ctx, runner.Cmd{Command: d.cfg.Status, Dir: d.cfg.Dir, Env: d.colorEnv(c), Timeout: 30 * time.Second}, nil)
		if err != nil {
			found[c] = fmt.Sprintf("not running (status command: %v %s)", err, res.TailText(2))
		} else {
			found[c] = "running (status command exited 0)"
		}
	}
	return found
}

// colorEnv is Env with BLUEGREEN_COLOR and PORT for color c.
func (d *Driver) colorEnv(c bluegreen.Color) []string {
	env := append(append([]string(nil), d.cfg.Env...), "BLUEGREEN_COLOR="+string(c))
	if p := d.cfg.Ports[c]; len(p) > 0 {
		env = append(env, fmt.Sprintf("PORT=%d", p[0]))
	}
	return env
}
