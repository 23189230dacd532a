// Package sshinstall installs a host's bluegreen agent over SSH (`bluegreen
// agent install user@host`): it connects with the user's key, checks the
// host's key against a known_hosts file, copies the bluegreen binary,
// writes the agent's token file and systemd unit, and starts the agent.
//
// Nothing reaches the host before its key has been checked. The token
// travels on a command's stdin only: it is never part of a command line,
// an error or a progress message. Every remote command is fixed words of
// this package and values quoted by Quote.
package sshinstall

import (
	"cmp"
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"time"

	"github.com/bluegreen/bluegreen"
)

// Init says how the agent is started on the host.
type Init string

// Values of Options.Init.
const (
	// InitSystemd writes the unit, then systemctl daemon-reload, enable and
	// restart (a re-install runs the new binary).
	InitSystemd Init = "systemd"
	// InitNone, for hosts without systemd (and tests), starts the agent
	// detached (setsid, nohup) with its output appended to AgentLog in its
	// directory and its pid in AgentPID; a re-install stops the agent that
	// pid file names first. The unit is still written, into the agent's
	// directory unless Options.UnitFile says otherwise, for later use.
	InitNone Init = "none"
)

// Defaults of Options.
const (
	DefaultDir          = "/var/lib/bluegreen-agent"
	DefaultRemoteBinary = "/usr/local/bin/bluegreen"
	DefaultUnitFile     = "/etc/systemd/system/bluegreen-agent.service"
)

// Names of the files Install writes in the agent's directory.
const (
	TokenFileName = "agent-token"             // the token (mode 0600), unless Options.TokenFile says otherwise
	CAFileName    = "ca.pem"                  // the CA certificates of Options.CAFile
	AgentLog      = "agent.log"               // the agent's output under InitNone
	AgentPID      = "agent.pid"               // the agent's pid under InitNone
	UnitFileName  = "bluegreen-agent.service" // the unit under InitNone, unless Options.UnitFile says otherwise
)

// Options say where and what Install installs. Target, Host, Server and
// Token are required; the rest has defaults. Remote paths must be
// absolute.
type Options struct {
	// Target is the SSH destination: user@host or user@host:port (port 22
	// by default; an IPv6 address with a port in brackets).
	Target string
	// Identity is the file of the private key to log in with (OpenSSH or
	// PEM, without a passphrase); "" uses the keys of the SSH agent at
	// $SSH_AUTH_SOCK.
	Identity string
	// KnownHosts is the known_hosts file that must list the host's key;
	// "" means ~/.ssh/known_hosts.
	KnownHosts string

	// Host is the bluegreen host name the agent acts for (a name of the
	// config's hosts:, and of its agent token).
	Host string
	// Server is the URL of the serve API the agent calls.
	Server string
	// Token is the agent token. Install never logs or prints it.
	Token []byte
	// CAFile is a local PEM file of the CA that signed serve's certificate
	// (a private CA); it is copied to CAFileName in Dir and passed to the
	// agent as --ca-file. "" for none.
	CAFile string

	// Dir is the agent's directory on the host (DefaultDir).
	Dir string
	// Binary is the local bluegreen binary to copy (the running one,
	// os.Executable, by default).
	Binary string
	// RemoteBinary is where the binary goes on the host
	// (DefaultRemoteBinary).
	RemoteBinary string
	// TokenFile is where the token goes on the host (TokenFileName in Dir).
	TokenFile string
	// UnitFile is where the systemd unit goes on the host: by default
	// DefaultUnitFile under InitSystemd, UnitFileName in Dir under InitNone.
	// Its base name is the unit's name.
	UnitFile string
	// Init is how the agent is started (InitSystemd when "").
	Init Init

	// Progress, when set, is called at the start of each step, from the
	// goroutine running Install.
	Progress func(Step)
	// Now is the clock (time.Now when nil).
	Now func() time.Time
}

// Step is one step of an install, as Progress sees it.
type Step struct {
	// Name is one of the Step* constants; Detail says what it does, for
	// people (never the token).
	Name   string `json:"name"`
	Detail string `json:"detail"`
}

// Values of Step.Name, in the order Install runs them (StepCA only with a
// CAFile, StepStop only under InitNone).
const (
	StepConnect = "connect" // TCP, the host key check, login
	StepCheck   = "check"   // the host's OS and machine against the binary's
	StepBinary  = "binary"  // the binary, through a temp file and a rename
	StepToken   = "token"   // the token file, mode 0600
	StepCA      = "ca"      // the CA file
	StepUnit    = "unit"    // the systemd unit
	StepStop    = "stop"    // the agent a previous install started (InitNone)
	StepStart   = "start"   // systemctl, or a detached process (InitNone)
)

// Result is what Install did.
type Result struct {
	// Target is the SSH destination as dialled (user@host:port); HostKey
	// the fingerprint of the key the host showed (SHA256:...).
	Target  string `json:"target"`
	HostKey string `json:"host_key"`
	// Host is the bluegreen host name; Init how the agent was started.
	Host string `json:"host"`
	Init Init   `json:"init"`
	// Dir, Binary, TokenFile and UnitFile are the paths on the host.
	Dir       string `json:"dir"`
	Binary    string `json:"binary"`
	TokenFile string `json:"token_file"`
	UnitFile  string `json:"unit_file"`
	// PIDFile and LogFile are the agent's pid file and output (InitNone
	// only).
	PIDFile string `json:"pid_file,omitempty"`
	LogFile string `json:"log_file,omitempty"`
	// PID is the agent's process ID as started (systemd's MainPID under
	// InitSystemd), 0 when unknown; Replaced the one a re-install stopped
	// (InitNone), 0 when none ran.
	PID      int `json:"pid,omitempty"`
	Replaced int `json:"replaced,omitempty"`
	// Began is when the install began: the agent's first report after an
	// install comes after it.
	Began time.Time `json:"began"`
}

// withDefaults returns o with its defaults filled in, or an error saying
// what is missing or wrong.
func (o Options) withDefaults() (Options, error) {
	switch {
	case o.Target == "":
		return o, errors.New("no target: want user@host[:port]")
	case !bluegreen.ValidHostName(o.Host):
		return o, fmt.Errorf("host name %q: want the bluegreen host name of the agent (1-63 characters of a-z, 0-9 and -)", o.Host)
	case o.Server == "":
		return o, errors.New("no server: the agent needs the URL of the serve API")
	case len(o.Token) == 0:
		return o, errors.New("no agent token (create one with `bluegreen token create --role agent --host NAME`)")
	}
	if o.Init == "" {
		o.Init = InitSystemd
	}
	if o.Init != InitSystemd && o.Init != InitNone {
		return o, fmt.Errorf("init %q: want systemd or none", o.Init)
	}
	if o.Binary == "" {
		exe, err := os.Executable()
		if err != nil {
			return o, fmt.Errorf("finding the running binary to copy: %w", err)
		}
		o.Binary = exe
	}
	if o.KnownHosts == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			return o, fmt.Errorf("finding ~/.ssh/known_hosts: %w", err)
		}
		o.KnownHosts = filepath.Join(home, ".ssh", "known_hosts")
	}
	o.Dir = cmp.Or(o.Dir, DefaultDir)
	o.RemoteBinary = cmp.Or(o.RemoteBinary, DefaultRemoteBinary)
	o.TokenFile = cmp.Or(o.TokenFile, path.Join(o.Dir, TokenFileName))
	if o.UnitFile == "" && o.Init == InitNone {
		o.UnitFile = path.Join(o.Dir, UnitFileName)
	}
	o.UnitFile = cmp.Or(o.UnitFile, DefaultUnitFile)
	for _, p := range []struct{ what, path string }{
		{"directory", o.Dir}, {"remote binary", o.RemoteBinary}, {"token file", o.TokenFile}, {"unit file", o.UnitFile},
	} {
		if !path.IsAbs(p.path) || path.Clean(p.path) == "/" {
			return o, fmt.Errorf("%s %q: want an absolute path on the host", p.what, p.path)
		}
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return o, nil
}
