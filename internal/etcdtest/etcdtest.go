// Package etcdtest starts real etcd processes on loopback for tests: a
// one-member cluster for contract tests, three members for quorum tests.
// Only tests may import it.
//
// The etcd binary is Debian's (package etcd-server): a test that needs it is
// skipped when it is missing, or fails under BLUEGREEN_REQUIRE_ALL=1 (see
// internal/testenv).
package etcdtest

import (
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/bluegreen/bluegreen/internal/testenv"
)

// Member is one etcd process started by Start. Its fields are read-only.
type Member struct {
	// Name is the member's name in the cluster (m0, m1, ...).
	Name string
	// ClientURL is where the member serves clients.
	ClientURL string

	bin, logPath string
	args         []string
	health       *http.Client
	cmd          *exec.Cmd
	done         chan struct{} // closed when the process has exited
}

// ClientTLS, given to StartWith, makes the members serve clients over TLS:
// Args are the etcd flags (certificate files), Config what the health poll
// uses to reach them.
type ClientTLS struct {
	Args   []string
	Config *tls.Config
}

// FreePorts returns k distinct ports on 127.0.0.1 that were free a moment
// ago: each is held until all are chosen, so none is handed out twice.
func FreePorts(t testing.TB, k int) []int {
	t.Helper()
	ports := make([]int, k)
	for i := range ports {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		ports[i] = l.Addr().(*net.TCPAddr).Port
	}
	return ports
}

// Start starts an n-member etcd cluster on loopback, each member with its
// data and log in t.TempDir(), waits until every member reports itself
// healthy (which needs an elected leader), and kills them (by PID) when the
// test ends. The members use a 50ms heartbeat and a 500ms election timeout,
// so a lost leader is replaced within about a second.
func Start(t testing.TB, n int) []*Member {
	t.Helper()
	return StartWith(t, n, nil)
}

// StartWith is Start, with clients served over TLS when ct is not nil.
func StartWith(t testing.TB, n int, ct *ClientTLS) []*Member {
	t.Helper()
	scheme, hc := "http", &http.Client{Timeout: 500 * time.Millisecond}
	var extra []string
	if ct != nil {
		scheme, extra = "https", ct.Args
		hc.Transport = &http.Transport{TLSClientConfig: ct.Config}
	}
	bin := testenv.LookPath(t, "etcd", "etcd-server", "/usr/bin/etcd")
	dir := t.TempDir()
	ms := make([]*Member, n)
	peers := make([]string, n)
	peerURLs := make([]string, n)
	ports := FreePorts(t, 2*n)
	for i := range ms {
		ms[i] = &Member{Name: fmt.Sprintf("m%d", i), ClientURL: fmt.Sprintf("%s://127.0.0.1:%d", scheme, ports[2*i])}
		peerURLs[i] = fmt.Sprintf("http://127.0.0.1:%d", ports[2*i+1])
		peers[i] = ms[i].Name + "=" + peerURLs[i]
	}
	for i, m := range ms {
		m.bin, m.logPath, m.health = bin, filepath.Join(dir, m.Name+".log"), hc
		m.args = append([]string{
			"--name", m.Name,
			"--data-dir", filepath.Join(dir, m.Name),
			"--listen-client-urls", m.ClientURL, "--advertise-client-urls", m.ClientURL,
			"--listen-peer-urls", peerURLs[i], "--initial-advertise-peer-urls", peerURLs[i],
			"--initial-cluster", strings.Join(peers, ","), "--initial-cluster-state", "new",
			"--initial-cluster-token", "bluegreen-test",
			"--heartbeat-interval", "50", "--election-timeout", "500",
			"--logger", "zap", "--log-outputs", "stderr"}, extra...)
		m.start(t)
		t.Cleanup(m.Kill)
	}
	for _, m := range ms {
		m.waitHealthy(t)
	}
	return ms
}

// start starts the member's process, its output appended to its log.
func (m *Member) start(t testing.TB) {
	t.Helper()
	logf, err := os.OpenFile(m.logPath, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	m.cmd = exec.Command(m.bin, m.args...)
	m.cmd.Stdout, m.cmd.Stderr = logf, logf
	if err := m.cmd.Start(); err != nil {
		logf.Close()
		t.Fatalf("starting etcd: %v", err)
	}
	done, cmd := make(chan struct{}), m.cmd
	m.done = done
	go func() { cmd.Wait(); logf.Close(); close(done) }()
}

// waitHealthy waits until the member reports itself healthy (which needs
// an elected leader), failing the test with the end of its log if it
// exits first.
func (m *Member) waitHealthy(t testing.TB) {
	t.Helper()
	testenv.WaitFor(t, 30*time.Second, "etcd member "+m.Name+" to report healthy (log in "+m.logPath+")", func() bool {
		select {
		case <-m.done:
			log, _ := os.ReadFile(m.logPath)
			t.Fatalf("etcd member %s exited while starting; the end of its log:\n%s", m.Name, tail(log, 2000))
		default:
		}
		resp, err := m.health.Get(m.ClientURL + "/health")
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
}

// Restart starts a killed member again on its data, and waits until it is
// healthy (so a quorum must be up). Restarting a running member fails the
// test. Call it from the test's goroutine only.
func (m *Member) Restart(t testing.TB) {
	t.Helper()
	if !m.Dead() {
		t.Fatalf("etcd member %s is running: kill it before restarting it", m.Name)
	}
	m.start(t)
	m.waitHealthy(t)
}

// Kill ends the member's process with SIGKILL (as a crash would) and waits
// for it to exit. Killing a dead member is a no-op. Call it from the
// test's goroutine (or a cleanup) only.
func (m *Member) Kill() {
	select {
	case <-m.done:
		return
	default:
	}
	_ = m.cmd.Process.Kill()
	<-m.done
}

// Pause stops the member's process (SIGSTOP) without closing its
// connections: to its clients it looks like a partition, where calls hang
// rather than fail. Resume, Kill or the test's end undo it.
func (m *Member) Pause() { _ = m.cmd.Process.Signal(syscall.SIGSTOP) }

// Resume lets a paused member run again (SIGCONT).
func (m *Member) Resume() { _ = m.cmd.Process.Signal(syscall.SIGCONT) }

// Dead reports whether the member's process has exited.
func (m *Member) Dead() bool {
	select {
	case <-m.done:
		return true
	default:
		return false
	}
}

// Endpoints returns the client URLs of ms, in order.
func Endpoints(ms []*Member) []string {
	var eps []string
	for _, m := range ms {
		eps = append(eps, m.ClientURL)
	}
	return eps
}

// tail returns the last n bytes of b, as text.
func tail(b []byte, n int) string { return string(b[max(0, len(b)-n):]) }
