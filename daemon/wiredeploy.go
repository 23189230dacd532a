package daemon

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/bluegreen/bluegreen"
	"github.com/bluegreen/bluegreen/config"
	"github.com/bluegreen/bluegreen/controller"
	"github.com/bluegreen/bluegreen/release"
	"github.com/bluegreen/bluegreen/runner"
)

// baseEnv is what build steps and the app inherit from serve's environment:
// the basics only, so serve's own secrets (BLUEGREEN_TOKEN...) never leak.
func baseEnv(app *config.App) []string {
	var env []string
	for _, k := range []string{"PATH", "HOME", "USER", "LANG", "LC_ALL", "TZ", "TMPDIR"} {
		if v, ok := os.LookupEnv(k); ok {
			env = append(env, k+"="+v)
		}
	}
	for _, e := range app.Env {
		env = append(env, e.Name+"="+e.Value)
	}
	return env
}

// deployConfig wires the app section into the controller's DeployConfig.
// It returns nil (no deploys) when the configuration has no app section.
func deployConfig(ctx context.Context, cfg *config.Config, apps controller.AppDriver, logger *slog.Logger) (*controller.DeployConfig, error) {
	app := cfg.App
	if app == nil {
		return nil, nil
	}
	repo, err := release.Open(ctx, app.Repo, filepath.Join(cfg.StateDir, "repo.git"), logger)
	if err != nil {
		return nil, fmt.Errorf("app.repo: %w", err)
	}
	releases := filepath.Join(cfg.StateDir, "releases")
	return &controller.DeployConfig{
		Source: repo, Driver: apps, ValidateRef: bluegreen.ValidateRef,
		Run: func(ctx context.Context, dir, command string, env []string, onLine func(string)) (int, []string, error) {
			res, err := runner.Run(ctx, runner.Cmd{Command: command, Dir: dir, Env: env}, onLine)
			return res.ExitCode, res.Tail, err
		},
		ReleaseDir: func(c bluegreen.Color, t time.Time, sha string) (string, error) {
			return release.ReleaseDir(releases, c, t, sha)
		},
		Prune: func(c bluegreen.Color, keep int, inUse string) {
			if removed, err := release.Prune(releases, c, keep, inUse); err != nil {
				logger.Warn("pruning old releases", "color", c, "err", err)
			} else if len(removed) > 0 {
				logger.Info("pruned old releases", "color", c, "removed", removed)
			}
		},
		Build: app.Build, Env: baseEnv(app), Ports: colorPorts(cfg), StartTimeout: app.StartTimeout, KeepReleases: app.KeepReleases,
		PreDeploy: app.Hooks.PreDeploy, PostDeploy: app.Hooks.PostDeploy,
		PreSwitch: app.Hooks.PreSwitch, PostSwitch: app.Hooks.PostSwitch, HookDir: configDir(cfg),
		Agents: agents(cfg),
	}, nil
}

// agents wires the colors of hosts run by agents; nil when there are none.
// An order carries the app's own env: never serve's environment.
func agents(cfg *config.Config) *controller.Agents {
	if !cfg.Agents() {
		return nil
	}
	app := cfg.App
	a := &controller.Agents{Hosts: map[bluegreen.Color][]controller.AgentHost{}, Run: app.Run, StopGrace: app.StopGrace,
		MaxParallel: app.MaxParallel, MinHealthy: app.MinHealthy, Timeout: app.AgentTimeout}
	for _, e := range app.Env {
		a.Env = append(a.Env, e.Name+"="+e.Value)
	}
	for col, c := range cfg.Colors {
		for _, h := range c.Hosts {
			a.Hosts[col] = append(a.Hosts[col], controller.AgentHost{Name: h.Name, Address: h.Address})
		}
	}
	return a
}

// configDir is the directory of the configuration file, where switch hooks
// run ("." when the file has no path).
func configDir(cfg *config.Config) string {
	if cfg.File == "" {
		return "."
	}
	return filepath.Dir(cfg.File)
}
