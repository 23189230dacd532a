package etcd

import (
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bluegreen/bluegreen/internal/testenv"
)

// member is one etcd process started by a test.
type member struct {
	name      string
	clientURL string
	cmd       *exec.Cmd
	done      chan struct{} // closed when the process has exited
}

// freePorts returns k distinct ports on 127.0.0.1 that were free a moment
// ago: each is held until all are chosen, so none is handed out twice.
func freePorts(t *testing.T, k int) []int {
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

// startCluster starts an n-member etcd cluster on loopback, each member
// with its data and log in t.TempDir(), waits until every member reports
// itself healthy (which needs an elected leader), and kills them (by PID)
// when the test ends. The test is skipped when Debian's etcd is not
// installed, or fails under BLUEGREEN_REQUIRE_ALL=1.
func startCluster(t *testing.T, n int) []*member {
	t.Helper()
	return startClusterWith(t, n, nil)
}

// clientTLS, when set, makes startClusterWith serve clients over TLS: args
// are the etcd flags (certificate files), config what the health poll uses.
type clientTLS struct {
	args   []string
	config *tls.Config
}

// startClusterWith is startCluster, with clients served over TLS when ct
// is not nil.
func startClusterWith(t *testing.T, n int, ct *clientTLS) []*member {
	t.Helper()
	scheme, hc := "http", &http.Client{Timeout: 500 * time.Millisecond}
	var extra []string
	if ct != nil {
		scheme, extra = "https", ct.args
		hc.Transport = &http.Transport{TLSClientConfig: ct.config}
	}
	bin := testenv.LookPath(t, "etcd", "etcd-server", "/usr/bin/etcd")
	dir := t.TempDir()
	ms := make([]*member, n)
	peers := make([]string, n)
	peerURLs := make([]string, n)
	ports := freePorts(t, 2*n)
	for i := range ms {
		ms[i] = &member{name: fmt.Sprintf("m%d", i), clientURL: fmt.Sprintf("%s://127.0.0.1:%d", scheme, ports[2*i])}
		peerURLs[i] = fmt.Sprintf("http://127.0.0.1:%d", ports[2*i+1])
		peers[i] = ms[i].name + "=" + peerURLs[i]
	}
	for i, m := range ms {
		logf, err := os.Create(filepath.Join(dir, m.name+".log"))
		if err != nil {
			t.Fatal(err)
		}
		m.cmd = exec.Command(bin, append([]string{
			"--name", m.name,
			"--data-dir", filepath.Join(dir, m.name),
			"--listen-client-urls", m.clientURL, "--advertise-client-urls", m.clientURL,
			"--listen-peer-urls", peerURLs[i], "--initial-advertise-peer-urls", peerURLs[i],
			"--initial-cluster", strings.Join(peers, ","), "--initial-cluster-state", "new",
			"--initial-cluster-token", "bluegreen-test",
			"--heartbeat-interval", "50", "--election-timeout", "500",
			"--logger", "zap", "--log-outputs", "stderr"}, extra...)...)
		m.cmd.Stdout, m.cmd.Stderr = logf, logf
		if err := m.cmd.Start(); err != nil {
			logf.Close()
			t.Fatalf("starting etcd: %v", err)
		}
		m.done = make(chan struct{})
		go func() { m.cmd.Wait(); logf.Close(); close(m.done) }()
		t.Cleanup(m.kill)
	}
	for _, m := range ms {
		testenv.WaitFor(t, 30*time.Second, "etcd member "+m.name+" to report healthy (logs in "+dir+")", func() bool {
			select {
			case <-m.done:
				log, _ := os.ReadFile(filepath.Join(dir, m.name+".log"))
				t.Fatalf("etcd member %s exited while starting; the end of its log:\n%s", m.name, tail(log, 2000))
			default:
			}
			resp, err := hc.Get(m.clientURL + "/health")
			if err != nil {
				return false
			}
			defer resp.Body.Close()
			return resp.StatusCode == http.StatusOK
		})
	}
	return ms
}

// kill ends the member's process with SIGKILL (as a crash would) and waits
// for it to exit. Killing a dead member is a no-op.
func (m *member) kill() {
	select {
	case <-m.done:
		return
	default:
	}
	_ = m.cmd.Process.Kill()
	<-m.done
}

// endpoints returns the client URLs of ms.
func endpoints(ms []*member) []string {
	var eps []string
	for _, m := range ms {
		eps = append(eps, m.clientURL)
	}
	return eps
}

// tail returns the last n bytes of b, as text.
func tail(b []byte, n int) string { return string(b[max(0, len(b)-n):]) }
