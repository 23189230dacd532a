package config

import (
	"math"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/goccy/go-yaml/ast"
)

// App is the `app:` section: what bluegreen deploys into a color and how it
// runs it. Configured commands are shell command lines (run with /bin/sh -c);
// values that come from users at run time reach them only as environment
// variables (BLUEGREEN_COLOR, BLUEGREEN_REF, BLUEGREEN_SHA, PORT, ...).
type App struct {
	// Repo is the git repository: an absolute local path when RepoIsLocal,
	// else a URL (https, ssh, git or file) or an scp-like user@host:path,
	// exactly as written.
	Repo string
	// RepoIsLocal says Repo is a local path (resolved against the config
	// file's directory when it was written relative).
	RepoIsLocal bool
	// Driver runs the app: DriverProcess (the default) or DriverCommand.
	Driver string
	// Run is the app's shell command line for DriverProcess; it should
	// listen on $PORT. Unused (possibly "") with DriverCommand.
	Run string
	// Build holds shell commands run in order in the release directory
	// before the app starts; it may be empty.
	Build []string
	// Env is extra environment for build steps, the app and hooks, in file
	// order. Names are valid, distinct and not reserved (see ReservedEnv).
	Env []EnvVar
	// StartTimeout bounds how long a started app may take to pass its
	// health check.
	StartTimeout time.Duration
	// StopGrace is the time between SIGTERM and SIGKILL when stopping.
	StopGrace time.Duration
	// KeepReleases is how many release directories are kept per color (>= 1).
	KeepReleases int
	// Command holds the command driver's commands: non-nil exactly when
	// Driver is DriverCommand.
	Command *CommandDriver
	// Hooks are optional commands around deploys and switches.
	Hooks Hooks
	// Checks are verification checks run against either color (each color
	// may add its own, see Color.Checks).
	Checks []Check
	// VerifyOnDeploy runs the color's checks at the end of every deploy
	// (true by default).
	VerifyOnDeploy bool
	// Promotion is PromotionManual (default) or PromotionAuto.
	Promotion string
	// RequireApproval makes switch need `bluegreen approve` of the color's
	// current release; only with PromotionManual.
	RequireApproval bool
	// MaxParallel bounds how many hosts of a color deploy at once (0: all),
	// MinHealthy how many must pass for a deploy to succeed (0: every
	// one), and AgentTimeout how long a host's agent may stay silent
	// during a deploy before the host has failed. They apply to colors of
	// hosts run by agents (driver process with `hosts:`), and may only be
	// set when a color has hosts.
	MaxParallel  int
	MinHealthy   int
	AgentTimeout time.Duration
}

// EnvVar is one environment variable of the `app.env:` mapping.
type EnvVar struct {
	// Name matches [A-Za-z_][A-Za-z0-9_]*; Value is the text as written
	// (numbers and booleans keep their spelling).
	Name, Value string
}

// CommandDriver holds the shell commands of the command driver
// (`app.command:`), for teams with their own deploy scripts. They run with
// the same environment as build steps.
type CommandDriver struct {
	// Deploy deploys the checked-out release; Stop stops the color's app;
	// both are set.
	Deploy, Stop string
	// Status reports whether the app runs (exit 0); "" when not configured.
	Status string
}

// Hooks are the optional shell commands of `app.hooks:`; "" means none.
// A failing pre-hook stops its operation.
type Hooks struct {
	PreDeploy, PostDeploy, PreSwitch, PostSwitch string
	// Notify runs after an automatic rollback and after a failed deploy or
	// verification, with BLUEGREEN_EVENT and BLUEGREEN_MESSAGE set; its
	// failure is recorded and changes nothing else.
	Notify string
}

// The drivers App.Driver may name.
const (
	// DriverProcess runs App.Run as a supervised process group per color.
	DriverProcess = "process"
	// DriverCommand runs the CommandDriver's deploy, stop and status commands.
	DriverCommand = "command"
)

// DefaultApp returns the app settings used for the keys of `app:` that are
// absent. Repo and Run have no default.
func DefaultApp() App {
	return App{Driver: DriverProcess, StartTimeout: 60 * time.Second, StopGrace: 10 * time.Second, KeepReleases: 3,
		VerifyOnDeploy: true, Promotion: PromotionManual, AgentTimeout: 15 * time.Second}
}

// ReservedEnv reports whether name is set by bluegreen itself (PORT and
// BLUEGREEN_*) and so may not appear in `app.env:`.
func ReservedEnv(name string) bool { return name == "PORT" || strings.HasPrefix(name, "BLUEGREEN_") }

var envName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// app decodes the `app:` section.
func (d *decoder) app(v value, a *App) {
	badDriver := false // reported already: don't ask for run or command too
	d.mapping(v,
		req("repo", func(v value) { d.repo(v, a) }),
		opt("driver", func(v value) {
			badDriver = d.failed(func() {
				s, ok := d.str(v, "process or command")
				if ok && s != DriverProcess && s != DriverCommand {
					d.invalid(v, "unknown driver %q (want process or command)", s)
				} else if ok {
					a.Driver = s
				}
			})
		}),
		opt("run", func(v value) { d.shell(v, &a.Run) }),
		opt("build", func(v value) {
			if v.empty() {
				return // `build:` with nothing: no build steps
			}
			d.list(v, "a list of shell commands", 0, func(_ int, e value) {
				var s string
				if d.shell(e, &s) {
					a.Build = append(a.Build, s)
				}
			})
		}),
		opt("env", func(v value) { d.env(v, &a.Env) }),
		opt("start_timeout", func(v value) { d.duration(v, &a.StartTimeout) }),
		opt("stop_grace", func(v value) { d.duration(v, &a.StopGrace) }),
		opt("keep_releases", func(v value) { d.integer(v, 1, math.MaxInt, &a.KeepReleases) }),
		opt("command", func(v value) {
			if badDriver {
				return
			}
			if a.Driver != DriverCommand {
				d.invalid(v, "only for driver: command (the driver is %s; set driver: command or remove this section)", a.Driver)
				return
			}
			a.Command = &CommandDriver{}
			d.mapping(v,
				req("deploy", func(v value) { d.shell(v, &a.Command.Deploy) }),
				req("stop", func(v value) { d.shell(v, &a.Command.Stop) }),
				opt("status", func(v value) { d.shell(v, &a.Command.Status) }),
			)
		}),
		opt("hooks", func(v value) {
			h := &a.Hooks
			d.mapping(v,
				opt("pre_deploy", func(v value) { d.shell(v, &h.PreDeploy) }),
				opt("post_deploy", func(v value) { d.shell(v, &h.PostDeploy) }),
				opt("pre_switch", func(v value) { d.shell(v, &h.PreSwitch) }),
				opt("post_switch", func(v value) { d.shell(v, &h.PostSwitch) }),
				opt("notify", func(v value) { d.shell(v, &h.Notify) }),
			)
		}),
		opt("checks", func(v value) { d.checks(v, &a.Checks) }),
		opt("verify_on_deploy", func(v value) { d.boolean(v, &a.VerifyOnDeploy) }),
		opt("promotion", func(v value) {
			s, ok := d.str(v, "manual or auto")
			if ok && s != PromotionManual && s != PromotionAuto {
				d.invalid(v, "unknown promotion %q (want manual or auto)", s)
			} else if ok {
				a.Promotion = s
			}
		}),
		opt("require_approval", func(v value) { d.boolean(v, &a.RequireApproval) }),
		opt("max_parallel", func(v value) { d.integer(v, 1, math.MaxInt, &a.MaxParallel) }),
		opt("min_healthy", func(v value) { d.integer(v, 1, math.MaxInt, &a.MinHealthy) }),
		opt("agent_timeout", func(v value) { d.duration(v, &a.AgentTimeout) }),
	)
	d.checkNames("app.checks", nil, a.Checks, "")
	if a.RequireApproval && a.Promotion == PromotionAuto {
		d.errorf(d.seen[v.child("require_approval")], "%s: approval needs a person between deploy and switch; it cannot go with promotion: auto (at %s)",
			v.child("require_approval"), d.seen[v.child("promotion")])
	}
	_, decoded := d.seen[v.child("driver")]
	switch {
	case badDriver || d.given[v.child("driver")] && !decoded: // already reported
	case a.Driver == DriverProcess && !d.given[v.child("run")]:
		d.errorf(v.at, "missing required key \"run\" in %s (the command that starts the app with driver process)", v.path)
	case a.Driver == DriverCommand && !d.given[v.child("command")]:
		d.errorf(v.at, "missing required key \"command\" in %s (driver command needs deploy and stop commands)", v.path)
	}
}

// shell decodes a non-blank shell command line.
func (d *decoder) shell(v value, dst *string) bool {
	s, ok := d.str(v, "a shell command")
	if ok && strings.TrimSpace(s) == "" {
		d.invalid(v, "must not be empty (want a shell command)")
		return false
	}
	if ok {
		*dst = s
	}
	return ok
}

// env decodes `env:`, a mapping of NAME: value kept in file order.
func (d *decoder) env(v value, dst *[]EnvVar) {
	if v.empty() {
		return
	}
	d.dict(v, "a mapping of NAME: value", func(name string, kp pos, e value) {
		switch {
		case !envName.MatchString(name):
			d.errorf(kp, "%s: %q is not a variable name (want letters, digits and _, not starting with a digit)", v.path, name)
			return
		case ReservedEnv(name):
			d.errorf(kp, "%s: %s is set by bluegreen (PORT and BLUEGREEN_* are reserved)", v.path, name)
			return
		}
		if s, ok := d.envValue(e); ok {
			*dst = append(*dst, EnvVar{Name: name, Value: s})
		}
	})
}

// envValue decodes an environment value: text, a number or a boolean as
// written.
func (d *decoder) envValue(v value) (string, bool) {
	if b, ok := v.node.(*ast.BoolNode); ok {
		return b.GetToken().Value, true
	}
	if v.empty() {
		d.invalid(v, `missing value (want a string; write "" for an empty one)`)
		return "", false
	}
	return d.str(v, "a string, number or boolean")
}

// repo decodes `app.repo:`: a URL, an scp-like address or a local path,
// which is made absolute against the config file's directory.
func (d *decoder) repo(v value, a *App) {
	s, ok := d.str(v, "a git repository URL or path")
	if !ok {
		return
	}
	var problem string
	switch {
	case strings.TrimSpace(s) == "":
		problem = "must not be empty"
	case strings.HasPrefix(s, "-"):
		problem = `must not start with "-"`
	case strings.ContainsFunc(s, func(r rune) bool { return r < 0x20 || r == 0x7f }):
		problem = "must not contain control characters"
	case strings.Contains(s, "::"):
		problem = `the "<transport>::<address>" syntax is not supported`
	case strings.Contains(s, "://"):
		u, err := url.Parse(s)
		switch {
		case err != nil:
			problem = "is not a valid URL"
		case u.Scheme != "https" && u.Scheme != "ssh" && u.Scheme != "git" && u.Scheme != "file":
			problem = "has an unsupported scheme " + u.Scheme + " (want https, ssh, git or file)"
		case u.Scheme != "file" && (u.Hostname() == "" || strings.HasPrefix(u.Hostname(), "-")):
			problem = `needs a host that does not start with "-"`
		case u.Scheme == "file" && (u.Host != "" || !strings.HasPrefix(u.Path, "/")):
			problem = "needs no host and an absolute path (file:///srv/app.git)"
		}
	case scpLike(s):
		host, path, _ := strings.Cut(s, ":")
		if _, h, ok := strings.Cut(host, "@"); ok {
			host = h
		}
		if host == "" || strings.HasPrefix(host, "-") || strings.HasPrefix(path, "-") || path == "" {
			problem = `is not user@host:path (host and path must be set and not start with "-")`
		}
	default:
		dir := s
		if !filepath.IsAbs(dir) && d.file != "" {
			dir = filepath.Join(filepath.Dir(d.file), dir)
		}
		abs, err := filepath.Abs(dir)
		if err != nil {
			problem = "cannot be made absolute: " + err.Error()
			break
		}
		a.Repo, a.RepoIsLocal = abs, true
		return
	}
	if problem != "" {
		d.invalid(v, "%q %s", s, problem)
		return
	}
	a.Repo = s
}

// scpLike reports whether git reads s as scp-like [user@]host:path: a colon
// before any slash.
func scpLike(s string) bool {
	colon, slash := strings.Index(s, ":"), strings.Index(s, "/")
	return colon >= 0 && (slash < 0 || colon < slash)
}
