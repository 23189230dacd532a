package release

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"time"

	"github.com/bluegreen/bluegreen/runner"
)

// passEnv are the only variables of our own environment that git sees.
var passEnv = []string{
	"PATH", "HOME", "XDG_CONFIG_HOME", "TMPDIR", "SSH_AUTH_SOCK",
	"http_proxy", "https_proxy", "no_proxy", "all_proxy",
	"HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "ALL_PROXY",
}

// gitEnv builds git's environment from scratch (see the package comment).
func gitEnv() []string {
	env := []string{
		"GIT_TERMINAL_PROMPT=0",
		"GIT_CONFIG_NOSYSTEM=1",
		"LC_ALL=C",
		"LANG=C",
	}
	for _, k := range passEnv {
		if v, ok := os.LookupEnv(k); ok {
			env = append(env, k+"="+v)
		}
	}
	if _, ok := os.LookupEnv("PATH"); !ok {
		env = append(env, "PATH=/usr/local/bin:/usr/bin:/bin")
	}
	return env
}

// gitConfig returns the -c options every git command gets. The file transport
// is allowed only when the configured repository is local.
func gitConfig(local bool) []string {
	file := "never"
	if local {
		file = "always"
	}
	kv := []string{
		"core.hooksPath=/dev/null",
		"core.fsmonitor=false",
		"protocol.allow=never",
		"protocol.https.allow=always",
		"protocol.ssh.allow=always",
		"protocol.git.allow=always",
		"protocol.file.allow=" + file,
		"fetch.recurseSubmodules=false",
		"submodule.recurse=false",
		"gc.autoDetach=false",
		"maintenance.autoDetach=false",
		"log.showSignature=false",
		"i18n.logOutputEncoding=UTF-8",
	}
	args := make([]string, 0, 2*len(kv))
	for _, s := range kv {
		args = append(args, "-c", s)
	}
	return args
}

// command returns a git command for the cache: the fixed configuration, then
// --git-dir, then args. The process runs in its own session, whose whole
// process group is killed when ctx ends or this process dies (a git fetch
// must not go on beside the retried deploy's, runner.Guard); the caller
// calls release once Wait has returned or Start failed. Stderr goes to a
// bounded buffer that gitError reports.
func (r *Repo) command(ctx context.Context, args ...string) (cmd *exec.Cmd, stderr *tailBuffer, release func(), err error) {
	argv := append(append(gitConfig(r.remote.local), "--git-dir="+r.dir), args...)
	cmd = exec.CommandContext(ctx, r.gitBin, argv...)
	cmd.Dir = r.dir
	cmd.Env = gitEnv()
	cmd.Stdin = nil
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 5 * time.Second
	stderr = &tailBuffer{max: 8 << 10}
	cmd.Stderr = stderr
	if release, err = runner.Guard(cmd); err != nil {
		return nil, nil, nil, fmt.Errorf("git %s: %w", args[0], err)
	}
	return cmd, stderr, release, nil
}

// run runs git with args and returns its trimmed stdout.
func (r *Repo) run(ctx context.Context, args ...string) (string, error) {
	cmd, stderr, release, err := r.command(ctx, args...)
	if err != nil {
		return "", err
	}
	defer release()
	var stdout bytes.Buffer
	cmd.Stdout = &stdout
	start := time.Now()
	err = cmd.Run()
	r.log.Debug("git", "args", args, "duration", time.Since(start), "err", err)
	if err != nil {
		return "", r.gitError(ctx, args, err, stderr)
	}
	return strings.TrimSpace(stdout.String()), nil
}

// gitError is a failed git command: which one, its exit code (-1 when it did
// not exit normally) and the end of its stderr.
type gitError struct {
	args   []string
	code   int
	stderr string
	err    error
}

func (e *gitError) Error() string {
	msg := fmt.Sprintf("git %s: %v", e.args[0], e.err)
	if e.stderr != "" {
		msg += ": " + e.stderr
	}
	return msg
}

func (e *gitError) Unwrap() error { return e.err }

// summary is git's first "fatal:" or "error:" line, else its last line: the
// one-line reason a user sees.
func (e *gitError) summary() string {
	lines := strings.Split(strings.TrimSpace(e.stderr), "\n")
	for _, l := range lines {
		if strings.HasPrefix(l, "fatal: ") || strings.HasPrefix(l, "error: ") {
			return strings.TrimSpace(l)
		}
	}
	return strings.TrimSpace(lines[len(lines)-1])
}

func (r *Repo) gitError(ctx context.Context, args []string, err error, stderr *tailBuffer) error {
	if ctx.Err() != nil {
		err = fmt.Errorf("%w (%w)", ctx.Err(), err)
	}
	ge := &gitError{args: args, code: -1, stderr: r.scrub(strings.TrimSpace(stderr.String())), err: err}
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		ge.code = exit.ExitCode()
	}
	return ge
}

// scrub removes the repository password from git's output.
func (r *Repo) scrub(s string) string {
	if r.remote.secret == "" {
		return s
	}
	return strings.ReplaceAll(s, r.remote.secret, "xxxxx")
}

// exitCode returns the exit code of a failed git command, -1 for other errors.
func exitCode(err error) int {
	var ge *gitError
	if errors.As(err, &ge) {
		return ge.code
	}
	return -1
}

// tailBuffer keeps the last max bytes written to it.
type tailBuffer struct {
	max int
	buf []byte
}

func (b *tailBuffer) Write(p []byte) (int, error) {
	b.buf = append(b.buf, p...)
	if over := len(b.buf) - b.max; over > 0 {
		b.buf = append(b.buf[:0], b.buf[over:]...)
	}
	return len(p), nil
}

func (b *tailBuffer) String() string { return string(b.buf) }
