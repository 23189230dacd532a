package sshinstall

import (
	"bytes"
	"context"
	"debug/elf"
	"fmt"
	"io"
	"os"
	"path"
	"strings"
)

// Install installs and starts the agent o describes on the host of
// o.Target, reporting each step to o.Progress, and returns what it did.
//
// It refuses a host whose key o.KnownHosts does not list, or lists with
// another key (a *HostKeyError), before anything reaches the host. It
// refuses a binary built for another machine than the host's (when the
// binary is an ELF file and the host's machine is known). The binary,
// token and unit replace any earlier ones atomically (a temporary file
// renamed). ctx bounds the whole install: when it ends the connection is
// closed and Install returns ctx's error; a step cut short leaves its file
// as it was. Install does not wait for the agent to report to serve: the
// caller does, through serve's status.
func Install(ctx context.Context, o Options) (Result, error) {
	o, err := o.withDefaults()
	if err != nil {
		return Result{}, err
	}
	user, addr, err := parseTarget(o.Target)
	if err != nil {
		return Result{}, err
	}
	res := Result{Target: user + "@" + addr, Host: o.Host, Init: o.Init, Dir: o.Dir, Binary: o.RemoteBinary,
		TokenFile: o.TokenFile, UnitFile: o.UnitFile, Began: o.Now()}
	step := func(name, format string, args ...any) {
		if o.Progress != nil {
			o.Progress(Step{Name: name, Detail: fmt.Sprintf(format, args...)})
		}
	}

	step(StepConnect, "connecting to %s (host key checked against %s)", res.Target, o.KnownHosts)
	c, fingerprint, err := connect(ctx, user, addr, o.Identity, o.KnownHosts)
	if err != nil {
		return res, err
	}
	defer c.Close()
	res.HostKey = fingerprint
	stop := context.AfterFunc(ctx, func() { c.Close() })
	defer stop()
	r := &remote{c: c}
	fail := func(what string, err error) (Result, error) {
		if ctx.Err() != nil {
			err = ctx.Err()
		}
		return res, fmt.Errorf("%s on %s: %w", what, res.Target, err)
	}

	step(StepCheck, "checking the host's system against %s", o.Binary)
	if err := checkMachine(r, o.Binary); err != nil {
		return fail("checking the host", err)
	}

	step(StepBinary, "copying %s to %s", o.Binary, o.RemoteBinary)
	bin, err := os.Open(o.Binary)
	if err != nil {
		return res, fmt.Errorf("opening the binary to copy: %w", err)
	}
	err = r.putFile(o.RemoteBinary, "0755", "022", bin)
	bin.Close()
	if err != nil {
		return fail("copying the binary to "+o.RemoteBinary, err)
	}
	if _, err := r.run(shellf(`umask 077 && mkdir -p -- %s`, o.Dir), nil); err != nil {
		return fail("making the agent's directory "+o.Dir, err)
	}

	step(StepToken, "writing the agent token to %s (mode 0600)", o.TokenFile)
	if err := r.putFile(o.TokenFile, "0600", "077", bytes.NewReader(o.Token)); err != nil {
		return fail("writing the token file "+o.TokenFile, err)
	}

	if o.CAFile != "" {
		ca := path.Join(o.Dir, CAFileName)
		step(StepCA, "copying %s to %s", o.CAFile, ca)
		pem, err := os.ReadFile(o.CAFile)
		if err != nil {
			return res, fmt.Errorf("reading the CA file: %w", err)
		}
		if err := r.putFile(ca, "0644", "022", bytes.NewReader(pem)); err != nil {
			return fail("copying the CA file to "+ca, err)
		}
	}

	step(StepUnit, "writing the unit %s", o.UnitFile)
	unit, err := unitText(o)
	if err != nil {
		return res, fmt.Errorf("writing the unit: %w", err)
	}
	if err := r.putFile(o.UnitFile, "0644", "022", strings.NewReader(unit)); err != nil {
		return fail("writing the unit "+o.UnitFile, err)
	}

	if o.Init == InitSystemd {
		name := path.Base(o.UnitFile)
		step(StepStart, "starting %s (systemctl daemon-reload, enable, restart)", name)
		out, err := r.run(shellf(`systemctl daemon-reload && systemctl enable -- %s && systemctl restart -- %s && systemctl show -p MainPID --value -- %s`,
			name, name, name), nil)
		if err != nil {
			return fail("starting "+name, err)
		}
		res.PID, _ = parsePID(lastLine(out))
		return res, nil
	}

	res.PIDFile, res.LogFile = path.Join(o.Dir, AgentPID), path.Join(o.Dir, AgentLog)
	step(StepStop, "stopping the agent %s names, if it runs", res.PIDFile)
	if res.Replaced, err = stopOld(r, res.PIDFile, o.Dir); err != nil {
		return fail("stopping the running agent", err)
	}
	step(StepStart, "starting the agent, detached, its output in %s", res.LogFile)
	cmd := shellf(`cd %s && umask 077 && { setsid nohup `, o.Dir) + quoteWords(append([]string{o.RemoteBinary}, agentArgs(o)...)) +
		shellf(` >> %s 2>&1 < /dev/null & } && echo $! > %s && echo $!`, res.LogFile, res.PIDFile)
	out, err := r.run(cmd, nil)
	if err != nil {
		return fail("starting the agent", err)
	}
	pid, ok := parsePID(out)
	if !ok {
		return fail("starting the agent", fmt.Errorf("the shell answered %q, not a pid", out))
	}
	res.PID = pid
	return res, nil
}

// quoteWords is the command line of words, each quoted.
func quoteWords(words []string) string {
	q := make([]string, len(words))
	for i, w := range words {
		q[i] = Quote(w)
	}
	return strings.Join(q, " ")
}

// lastLine is the last non-empty line of out.
func lastLine(out string) string {
	lines := strings.Split(strings.TrimSpace(out), "\n")
	return lines[len(lines)-1]
}

// stopOld stops the agent of dir whose pid pidFile holds, if it runs,
// and returns its pid (0 when none ran). It waits until the process has
// exited (SIGTERM, then SIGKILL after 10 s), and refuses to signal a pid
// whose command line is not an agent of dir (a stale pid file, reused).
func stopOld(r *remote, pidFile, dir string) (int, error) {
	out, err := r.run(shellf(`cat -- %s 2>/dev/null || true`, pidFile), nil)
	if err != nil {
		return 0, err
	}
	pid, ok := parsePID(out)
	if !ok {
		return 0, nil
	}
	p := fmt.Sprint(pid)
	cmdline, err := r.run(shellf(`cat -- /proc/%s/cmdline 2>/dev/null || true`, p), nil)
	if err != nil || !isAgentOf(cmdline, dir) {
		return 0, err
	}
	// A process that exited stays a zombie until its parent (init, after
	// the ssh session) reaps it: gone means no /proc entry, or state Z.
	_, err = r.run(shellf(`kill -TERM %s 2>/dev/null; i=0; `+
		`while [ -d /proc/%s ] && ! grep -q '^State:[[:space:]]*Z' /proc/%s/status 2>/dev/null; do `+
		`i=$((i+1)); if [ $i -eq 100 ]; then kill -KILL %s 2>/dev/null; fi; `+
		`if [ $i -gt 200 ]; then echo "pid %s would not exit" >&2; exit 1; fi; sleep 0.1; done`, p, p, p, p, p), nil)
	return pid, err
}

// checkMachine refuses a binary built for another system than the host's
// (an ELF file of another machine, or a host whose kernel is not Linux).
// A binary that is not ELF (a script), or a machine it does not know,
// passes.
func checkMachine(r *remote, binary string) error {
	f, err := os.Open(binary)
	if err != nil {
		return fmt.Errorf("reading the binary: %w", err)
	}
	defer f.Close()
	var magic [4]byte
	if _, err := io.ReadFull(f, magic[:]); err != nil || string(magic[:]) != elf.ELFMAG {
		return nil // not an ELF binary
	}
	ef, err := elf.NewFile(f)
	if err != nil {
		return fmt.Errorf("reading the ELF binary %s: %w", binary, err)
	}
	want := ef.Machine
	out, err := r.run(`uname -s -m`, nil)
	if err != nil {
		return err
	}
	kernel, m, known, err := parseUname(out)
	switch {
	case err != nil:
		return err
	case kernel != "Linux":
		return fmt.Errorf("the host runs %s; %s is a Linux binary", kernel, binary)
	case known && m != want:
		return fmt.Errorf("the host is a %s machine and %s is built for %s: give a binary built for the host (--binary)", m, binary, want)
	}
	return nil
}
