package sshinstall_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"

	"github.com/bluegreen/bluegreen/agent/sshinstall"
	"github.com/bluegreen/bluegreen/internal/sshdtest"
	"github.com/bluegreen/bluegreen/internal/testenv"
)

// fakeAgent stands in for the bluegreen binary: it records its arguments
// (one a line) next to itself and stays running, as an agent does.
const fakeAgent = `#!/bin/sh
printf '%s\n' "$@" > "$0.args"
while :; do sleep 1; done
`

// token is an agent token with characters a shell would act on.
const token = "bgt_agent'$(touch /tmp/pwned)`id`\n"

// setup starts sshd and returns options that install a fake agent into
// hostile paths (a space, a quote, a $) under a temporary directory, with
// init none, and that directory.
func setup(t *testing.T) (*sshdtest.Server, sshinstall.Options, string) {
	t.Helper()
	s := sshdtest.Start(t)
	root := t.TempDir()
	bin := filepath.Join(root, "local-bluegreen")
	if err := os.WriteFile(bin, []byte(fakeAgent), 0o755); err != nil {
		t.Fatal(err)
	}
	remote := filepath.Join(root, "it's the $HOST")
	return s, sshinstall.Options{
		Target: s.Target, Identity: s.Identity, KnownHosts: s.KnownHosts,
		Host: "app-3", Server: "https://serve.example:8443", Token: []byte(token),
		Dir: filepath.Join(remote, "agent dir"), Binary: bin, RemoteBinary: filepath.Join(remote, "bin", "bluegreen"),
		UnitFile: filepath.Join(remote, "systemd", "bluegreen-agent.service"), Init: sshinstall.InitNone,
	}, remote
}

// TestInstallNone installs a (fake) agent over a real sshd with init none,
// checks every file and the running process, then installs again and
// checks the first agent was stopped and replaced.
func TestInstallNone(t *testing.T) {
	s, o, _ := setup(t)
	var steps []sshinstall.Step
	o.Progress = func(st sshinstall.Step) { steps = append(steps, st) }
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	res, err := sshinstall.Install(ctx, o)
	if err != nil {
		t.Fatalf("Install: %v\n%s", err, s.Log())
	}
	t.Cleanup(func() { kill(res.PID) })
	var names []string
	for _, st := range steps {
		names = append(names, st.Name)
	}
	want := []string{"connect", "check", "binary", "token", "unit", "stop", "start"}
	if !slices.Equal(names, want) {
		t.Errorf("steps %v, want %v", names, want)
	}
	if res.HostKey != ssh.FingerprintSHA256(s.HostKey) {
		t.Errorf("Result.HostKey %s, want %s", res.HostKey, ssh.FingerprintSHA256(s.HostKey))
	}
	tokenFile := filepath.Join(o.Dir, sshinstall.TokenFileName)
	checkFile(t, o.RemoteBinary, fakeAgent, 0o755)
	checkFile(t, tokenFile, token, 0o600)
	checkFile(t, res.PIDFile, fmt.Sprintf("%d\n", res.PID), 0o600)
	args := []string{"agent", "--host", "app-3", "--dir", o.Dir, "--server", o.Server, "--token-file", tokenFile}
	unit, _ := os.ReadFile(o.UnitFile)
	if line := `ExecStart="` + o.RemoteBinary + `" agent --host app-3 --dir "` + o.Dir + `" --server https://serve.example:8443 --token-file "` + tokenFile + `"`; !strings.Contains(string(unit), strings.ReplaceAll(line, "$", "$$")+"\n") {
		t.Errorf("the unit lacks the line\n%s\nit is:\n%s", line, unit)
	}
	checkAgent(t, res.PID, o.RemoteBinary, args)
	if st, err := os.Stat(res.LogFile); err != nil || st.Mode().Perm() != 0o600 {
		t.Errorf("the agent's log %s: %v, %v; want a file of mode 0600", res.LogFile, st, err)
	}
	out, _ := json.Marshal(struct {
		R     sshinstall.Result
		Steps []sshinstall.Step
	}{res, steps})
	if strings.Contains(string(out), "bgt_agent") {
		t.Errorf("the token appears in the result or the progress: %s", out)
	}

	// A re-install, to another server: the first agent is stopped.
	o.Server = "https://serve-2.example"
	res2, err := sshinstall.Install(ctx, o)
	if err != nil {
		t.Fatalf("Install again: %v\n%s", err, s.Log())
	}
	t.Cleanup(func() { kill(res2.PID) })
	if res2.Replaced != res.PID || res2.PID == res.PID {
		t.Errorf("the re-install replaced pid %d and started %d; want %d replaced by a new pid", res2.Replaced, res2.PID, res.PID)
	}
	if alive(res.PID) {
		t.Errorf("the first agent (pid %d) still runs after the re-install", res.PID)
	}
	args[6] = o.Server
	checkAgent(t, res2.PID, o.RemoteBinary, args)
	checkFile(t, res2.PIDFile, fmt.Sprintf("%d\n", res2.PID), 0o600)
}

// checkFile fails the test unless file holds content with mode perm.
func checkFile(t *testing.T, file, content string, perm os.FileMode) {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Errorf("reading %s: %v", file, err)
		return
	}
	if string(b) != content {
		t.Errorf("%s holds %q, want %q", file, b, content)
	}
	if st, _ := os.Stat(file); st.Mode().Perm() != perm {
		t.Errorf("%s has mode %v, want %v", file, st.Mode().Perm(), perm)
	}
}

// checkAgent checks that the fake agent of pid runs, with args.
func checkAgent(t *testing.T, pid int, bin string, args []string) {
	t.Helper()
	if !alive(pid) {
		t.Fatalf("the agent (pid %d) does not run", pid)
	}
	// setsid and nohup exec the agent in turn, keeping the pid.
	var got []string
	want := append([]string{"/bin/sh", bin}, args...)
	testenv.WaitFor(t, 10*time.Second, fmt.Sprintf("pid %d to run %q", pid, want), func() bool {
		cmdline, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
		got = strings.Split(strings.TrimSuffix(string(cmdline), "\x00"), "\x00")
		return slices.Equal(got, want) || !alive(pid)
	})
	if !slices.Equal(got, want) {
		t.Fatalf("the agent (pid %d) exited; it last ran as %q, want %q", pid, got, want)
	}
	argLines := strings.Join(args, "\n") + "\n"
	testenv.WaitFor(t, 10*time.Second, "the agent to record its arguments", func() bool {
		b, _ := os.ReadFile(bin + ".args")
		return string(b) == argLines
	})
}

// alive reports whether pid runs (exists and is not a zombie).
func alive(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+1:]))
	return len(f) > 0 && f[0] != "Z"
}

// kill ends the fake agent this test started, by its pid.
func kill(pid int) {
	if pid > 0 && alive(pid) {
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
}

// TestChangedHostKeyRefused: known_hosts lists another key for the host;
// the install is refused naming the file and the key, and sshd saw no
// login and nothing was written.
func TestChangedHostKeyRefused(t *testing.T) {
	s, o, remote := setup(t)
	o.KnownHosts = filepath.Join(t.TempDir(), "known_hosts")
	if err := os.WriteFile(o.KnownHosts, []byte(s.OtherKeyLine(t)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := sshinstall.Install(context.Background(), o)
	hk := refused(t, s, err, o.KnownHosts, remote)
	if hk.Unknown || len(hk.Known) != 1 || !strings.HasPrefix(hk.Known[0], o.KnownHosts+":1 ssh-ed25519 SHA256:") {
		t.Errorf("HostKeyError %+v: want the changed key, with the one line the file lists", hk)
	}
}

// TestUnknownHostRefused: known_hosts lists the host's key for another
// port only; the install is refused as an unknown host.
func TestUnknownHostRefused(t *testing.T) {
	s, o, remote := setup(t)
	o.KnownHosts = filepath.Join(t.TempDir(), "known_hosts")
	line := knownhosts.Line([]string{"[127.0.0.1]:1"}, s.HostKey)
	if err := os.WriteFile(o.KnownHosts, []byte(line+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := sshinstall.Install(context.Background(), o)
	if hk := refused(t, s, err, o.KnownHosts, remote); !hk.Unknown {
		t.Errorf("HostKeyError %+v: want an unknown host", hk)
	}
}

// refused checks that err is a HostKeyError naming file and the host's
// key, that sshd accepted no login and that nothing was written under
// remote.
func refused(t *testing.T, s *sshdtest.Server, err error, file, remote string) *sshinstall.HostKeyError {
	t.Helper()
	var hk *sshinstall.HostKeyError
	if !errors.As(err, &hk) {
		t.Fatalf("Install: %v; want a HostKeyError", err)
	}
	fp := ssh.FingerprintSHA256(s.HostKey)
	if msg := err.Error(); !strings.Contains(msg, file) || !strings.Contains(msg, fp) {
		t.Errorf("the refusal %q does not name the file %s and the fingerprint %s", msg, file, fp)
	}
	if strings.Contains(s.Log(), "Accepted publickey") {
		t.Errorf("sshd accepted a login:\n%s", s.Log())
	}
	if _, err := os.Stat(remote); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("%s exists after a refused install (%v)", remote, err)
	}
	return hk
}

// TestOtherMachineRefused: a binary built for another machine than the
// host's is refused before anything is copied.
func TestOtherMachineRefused(t *testing.T) {
	s, o, remote := setup(t)
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(exe)
	if err != nil {
		t.Fatal(err)
	}
	// e_machine, at offset 18 of the ELF header (little-endian here).
	other := uint16(183) // EM_AARCH64
	if b[18] == 183 && b[19] == 0 {
		other = 62 // EM_X86_64
	}
	b[18], b[19] = byte(other), byte(other>>8)
	o.Binary = filepath.Join(t.TempDir(), "bluegreen")
	if err := os.WriteFile(o.Binary, b, 0o755); err != nil {
		t.Fatal(err)
	}
	_, err = sshinstall.Install(context.Background(), o)
	if err == nil || !strings.Contains(err.Error(), "is built for") {
		t.Fatalf("Install of a binary for another machine: %v; want a refusal\n%s", err, s.Log())
	}
	if _, err := os.Stat(remote); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("%s exists after a refused install (%v)", remote, err)
	}
}
