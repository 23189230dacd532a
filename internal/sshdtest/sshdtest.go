// Package sshdtest starts a real OpenSSH server (Debian's /usr/sbin/sshd,
// package openssh-server) on a loopback port for tests, with a host key
// and a client key made by the test. Only tests may import it.
//
// A test that needs it is skipped when sshd is missing, or fails under
// BLUEGREEN_REQUIRE_ALL=1 (see internal/testenv).
package sshdtest

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"

	"github.com/bluegreen/bluegreen/internal/testenv"
)

// Server is one sshd started by Start. Its fields are read-only.
type Server struct {
	// Addr is the host:port it listens on (127.0.0.1); User the user to
	// log in as (the one running the test); Target is User@Addr.
	Addr   string
	User   string
	Target string
	// Identity is the file of the client's private key (OpenSSH format,
	// mode 0600), the one key authorized_keys lists.
	Identity string
	// HostKey is the server's host key; KnownHostsLine its known_hosts
	// line for Addr, and KnownHosts a file holding that line only.
	HostKey        ssh.PublicKey
	KnownHostsLine string
	KnownHosts     string
	// LogPath is the file sshd writes its log to (-e).
	LogPath string

	cmd  *exec.Cmd
	done chan struct{}
}

// Start starts sshd on a free loopback port, with its own sshd_config,
// host key (ed25519), authorized_keys and log in t.TempDir(); public key
// login only, for the user running the test. It waits until sshd answers
// with its banner, and kills it (by its PID) when the test ends.
func Start(t testing.TB) *Server {
	t.Helper()
	bin := testenv.LookPath(t, "sshd", "openssh-server", "/usr/sbin/sshd")
	if !filepath.IsAbs(bin) { // sshd re-executes itself: it needs its absolute path
		if abs, err := filepath.Abs(bin); err == nil {
			bin = abs
		}
	}
	cat := testenv.LookPath(t, "cat", "coreutils", "/bin/cat")
	u, err := user.Current()
	if err != nil {
		t.Fatal(err)
	}
	if u.Uid == "0" {
		// The privilege separation directory Debian's package makes.
		if err := os.MkdirAll("/run/sshd", 0o755); err != nil {
			t.Fatalf("making sshd's privilege separation directory: %v", err)
		}
	}
	dir := t.TempDir()
	if err := os.Chmod(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	hostKey := writeKey(t, filepath.Join(dir, "ssh_host_ed25519_key"))
	clientKey := writeKey(t, filepath.Join(dir, "id_ed25519"))
	authorized := filepath.Join(dir, "authorized_keys")
	if err := os.WriteFile(authorized, ssh.MarshalAuthorizedKey(clientKey), 0o600); err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	s := &Server{Addr: addr, User: u.Username, Target: u.Username + "@" + addr,
		Identity: filepath.Join(dir, "id_ed25519"), HostKey: hostKey,
		KnownHostsLine: knownhosts.Line([]string{knownhosts.Normalize(addr)}, hostKey),
		KnownHosts:     filepath.Join(dir, "known_hosts"), LogPath: filepath.Join(dir, "sshd.log")}
	if err := os.WriteFile(s.KnownHosts, []byte(s.KnownHostsLine+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	config := filepath.Join(dir, "sshd_config")
	_, port, _ := net.SplitHostPort(addr)
	// authorized_keys is read through AuthorizedKeysCommand (cat, a
	// root-owned program): as an AuthorizedKeysFile, StrictModes would
	// refuse it for t.TempDir's parent /tmp, writable by all, and strict
	// modes stay on.
	conf := strings.Join([]string{
		"ListenAddress 127.0.0.1",
		"Port " + port,
		"HostKey " + filepath.Join(dir, "ssh_host_ed25519_key"),
		"PidFile none",
		"AuthorizedKeysFile none",
		"AuthorizedKeysCommand " + cat + " " + authorized,
		"AuthorizedKeysCommandUser " + u.Username,
		"StrictModes yes",
		"PubkeyAuthentication yes",
		"PasswordAuthentication no",
		"KbdInteractiveAuthentication no",
		"PermitRootLogin prohibit-password",
		"UsePAM no",
		"AllowTcpForwarding no",
		"X11Forwarding no",
		"PrintMotd no",
		"LogLevel VERBOSE",
		"",
	}, "\n")
	if err := os.WriteFile(config, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	logf, err := os.OpenFile(s.LogPath, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	s.cmd = exec.Command(bin, "-D", "-e", "-f", config)
	s.cmd.Stdout, s.cmd.Stderr = logf, logf
	if err := s.cmd.Start(); err != nil {
		logf.Close()
		t.Fatalf("starting sshd: %v", err)
	}
	s.done = make(chan struct{})
	go func() { s.cmd.Wait(); logf.Close(); close(s.done) }()
	t.Cleanup(s.Stop)
	testenv.WaitFor(t, 10*time.Second, "sshd to answer on "+addr+" (log in "+s.LogPath+")", func() bool {
		select {
		case <-s.done:
			log, _ := os.ReadFile(s.LogPath)
			t.Fatalf("sshd exited while starting; its log:\n%s", log)
		default:
		}
		return banner(addr)
	})
	return s
}

// Stop kills sshd (SIGKILL, by its PID) and waits for it to exit; the
// sessions it forked end with their connections. Stopping twice is a
// no-op. Call it from the test's goroutine (or a cleanup) only.
func (s *Server) Stop() {
	select {
	case <-s.done:
		return
	default:
	}
	_ = s.cmd.Process.Kill()
	<-s.done
}

// Log returns what sshd has logged so far.
func (s *Server) Log() string {
	b, _ := os.ReadFile(s.LogPath)
	return string(b)
}

// banner reports whether an SSH server answers on addr with its version
// line.
func banner(addr string) bool {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return false
	}
	defer c.Close()
	_ = c.SetReadDeadline(time.Now().Add(time.Second))
	b := make([]byte, 4)
	n, _ := c.Read(b)
	return string(b[:n]) == "SSH-"
}

// writeKey makes an ed25519 key, writes its private half to file (OpenSSH
// format, mode 0600) and returns its public half.
func writeKey(t testing.TB, file string) ssh.PublicKey {
	t.Helper()
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	block, err := ssh.MarshalPrivateKey(priv, "")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(file, pem.EncodeToMemory(block), 0o600); err != nil {
		t.Fatal(err)
	}
	sp, err := ssh.NewPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return sp
}

// OtherKeyLine returns a known_hosts line for s.Addr with a key that is
// not s's: a host whose key changed, as a client that knew the old one
// sees it.
func (s *Server) OtherKeyLine(t testing.TB) string {
	t.Helper()
	pub, _, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	sp, err := ssh.NewPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return knownhosts.Line([]string{knownhosts.Normalize(s.Addr)}, sp)
}

// String is the server's target and log, for test failures.
func (s *Server) String() string { return fmt.Sprintf("sshd at %s (log %s)", s.Target, s.LogPath) }
