package bindtest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/bluegreen/bluegreen/internal/testenv"
)

// Named is one running BIND named process, a child of the test process. It
// listens on 127.0.0.1:Port (UDP and TCP) and keeps its configuration, zone
// files, journal, pid file and log in Dir. Its methods are safe for
// concurrent use.
type Named struct {
	// Role is "primary" or "secondary"; it names the server in messages.
	Role string
	// Addr is "127.0.0.1:port", the address to query or update.
	Addr string
	// Dir is the server's own directory (under the test's t.TempDir()).
	Dir string
	// PID is the process id of named.
	PID int

	cmd   *exec.Cmd
	done  chan struct{} // closed once the process has been reaped
	token string        // the server's unique "version" string, proves who answers
}

// errPortInUse says that named could not listen on its port: the caller
// picks another port and starts again.
var errPortInUse = errors.New("port already in use")

// startTimeout bounds how long a named may take to answer after start.
const startTimeout = 15 * time.Second

// namedBinary returns the path of the named executable: $BINDTEST_NAMED when
// set (e.g. a copy outside an AppArmor profile), else named on $PATH, else
// /usr/sbin/named (not on the PATH of most non-root users). When there is
// none it skips the test, or fails it under BLUEGREEN_REQUIRE_ALL=1 (CI).
func namedBinary(t testing.TB) string {
	t.Helper()
	if p := os.Getenv("BINDTEST_NAMED"); p != "" {
		return p
	}
	return testenv.LookPath(t, "named", "bind9", "/usr/sbin/named")
}

// freePorts returns n distinct ports that are free for both TCP and UDP on
// 127.0.0.1 at the time of the call (it holds each until all are found).
// Someone else may take one before named binds it: the caller detects that
// (errPortInUse, or a foreign answer) and retries.
func freePorts(n int) ([]int, error) {
	var ports []int
	var held []io.Closer
	defer func() {
		for _, c := range held {
			c.Close()
		}
	}()
	for tries := 0; len(ports) < n; tries++ {
		if tries == 20 {
			return nil, errors.New("finding free ports: no port free for both TCP and UDP after 20 tries")
		}
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("finding a free port: %w", err)
		}
		held = append(held, l)
		port := l.Addr().(*net.TCPAddr).Port
		u, err := net.ListenPacket("udp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
		if err != nil {
			continue // UDP side taken: try another
		}
		held = append(held, u)
		ports = append(ports, port)
	}
	return ports, nil
}

// startNamed writes conf (which must use dir as its directory and port as
// its listen port) and zone files (name → content) into dir, starts named
// and waits until it answers as itself and serves zone authoritatively.
// On any failure it stops the process it started.
func startNamed(role, bin, dir string, port int, token, conf string, files map[string]string, zone string) (*Named, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			return nil, err
		}
	}
	confPath := filepath.Join(dir, "named.conf")
	if err := os.WriteFile(confPath, []byte(conf), 0o644); err != nil {
		return nil, err
	}
	logPath := filepath.Join(dir, "named.log")
	logf, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	defer logf.Close() // the child keeps its own descriptor

	// -g: foreground, log to stderr (our log file); -n 1: one worker thread,
	// the machine is small and shared. No -u: named keeps our user, so the
	// files it writes (journal, secondary zone copy) stay in a directory we
	// own, and no privilege drop to user bind is needed.
	cmd := exec.Command(bin, "-g", "-n", "1", "-c", confPath)
	cmd.Dir = dir
	cmd.Stdout = logf
	cmd.Stderr = logf
	cmd.SysProcAttr = procAttr() // on Linux: killed if the test process dies without cleanup
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting %s: %w", bin, err)
	}
	n := &Named{
		Role:  role,
		Addr:  net.JoinHostPort("127.0.0.1", strconv.Itoa(port)),
		Dir:   dir,
		PID:   cmd.Process.Pid,
		cmd:   cmd,
		done:  make(chan struct{}),
		token: token,
	}
	go func() {
		cmd.Wait() // the exit status is in the log; Stop only needs to know it ended
		close(n.done)
	}()
	if err := n.waitReady(zone, logPath); err != nil {
		n.Stop()
		return nil, err
	}
	return n, nil
}

// waitReady polls until the server answers the CHAOS version query with its
// own token over UDP and TCP (so it is ours, not another named on a reused
// port) and answers the zone's SOA authoritatively (for a secondary: the
// zone was transferred).
func (n *Named) waitReady(zone, logPath string) error {
	deadline := time.Now().Add(startTimeout)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	var last error
	for {
		select {
		case <-n.done:
			return fmt.Errorf("%s named exited during start-up; its log (%s):\n%s", n.Role, logPath, tail(logPath))
		default:
		}
		if log, _ := os.ReadFile(logPath); strings.Contains(string(log), "address in use") {
			return errPortInUse
		}
		last = n.ready(zone)
		if last == nil {
			return nil
		}
		if errors.Is(last, errPortInUse) {
			return last
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s named on %s not ready after %v: %v; its log (%s):\n%s",
				n.Role, n.Addr, startTimeout, last, logPath, tail(logPath))
		}
		<-tick.C
	}
}

func (n *Named) ready(zone string) error {
	for _, proto := range []string{"udp", "tcp"} {
		q := new(dns.Msg)
		q.SetQuestion("version.bind.", dns.TypeTXT)
		q.Question[0].Qclass = dns.ClassCHAOS
		c := &dns.Client{Net: proto, Timeout: 500 * time.Millisecond}
		r, _, err := c.Exchange(q, n.Addr)
		if err != nil {
			return err
		}
		got := ""
		if len(r.Answer) > 0 {
			if txt, ok := r.Answer[0].(*dns.TXT); ok {
				got = strings.Join(txt.Txt, "")
			}
		}
		if got != n.token {
			return fmt.Errorf("%w: %s over %s is answered by another server (version %q)", errPortInUse, n.Addr, proto, got)
		}
	}
	q := new(dns.Msg)
	q.SetQuestion(zone, dns.TypeSOA)
	q.RecursionDesired = false
	r, _, err := (&dns.Client{Timeout: 500 * time.Millisecond}).Exchange(q, n.Addr)
	if err != nil {
		return err
	}
	if r.Rcode != dns.RcodeSuccess || !r.Authoritative || len(r.Answer) == 0 {
		return fmt.Errorf("zone %s not served yet (rcode %s, authoritative %v)", zone, dns.RcodeToString[r.Rcode], r.Authoritative)
	}
	return nil
}

// Stop ends the process by its PID (SIGTERM, then SIGKILL after 10s) and
// waits until it is gone. Stopping a stopped server does nothing. The test
// cleanup calls it; a test calls it to take a server down on purpose.
func (n *Named) Stop() {
	select {
	case <-n.done:
		return
	default:
	}
	n.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-n.done:
	case <-time.After(10 * time.Second):
		n.cmd.Process.Kill()
		<-n.done
	}
}

// Running reports whether the process has not exited yet.
func (n *Named) Running() bool {
	select {
	case <-n.done:
		return false
	default:
		return true
	}
}

// Log returns the server's log so far (named -g writes it to Dir/named.log).
func (n *Named) Log() string {
	b, _ := os.ReadFile(filepath.Join(n.Dir, "named.log"))
	return string(b)
}

// tail returns the last lines of a log file for an error message.
func tail(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return "(no log: " + err.Error() + ")"
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > 30 {
		lines = lines[len(lines)-30:]
	}
	return strings.Join(lines, "\n")
}

// exchange sends m to addr and returns the answer, within ctx.
func exchange(ctx context.Context, c *dns.Client, m *dns.Msg, addr string) (*dns.Msg, error) {
	r, _, err := c.ExchangeContext(ctx, m, addr)
	return r, err
}
