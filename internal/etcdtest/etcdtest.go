// Package etcdtest starts a one-member etcd server for tests outside
// store/etcd (daemon, state copy, the CLI): Debian's etcd-server on
// loopback, its data in t.TempDir(), killed by PID when the test ends.
// Tests only.
package etcdtest

import (
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/bluegreen/bluegreen/internal/testenv"
)

// Start starts a one-member etcd and returns its client address
// (127.0.0.1:port) once it reports itself healthy. The test is skipped
// when etcd is not installed, or fails under BLUEGREEN_REQUIRE_ALL=1.
func Start(t testing.TB) string {
	t.Helper()
	return start(t, nil)
}

// StartTLS is Start with clients served over TLS with p's server
// certificate, and only with a client certificate signed by p's CA.
func StartTLS(t testing.TB, p *PKI) string {
	t.Helper()
	return start(t, p)
}

func start(t testing.TB, p *PKI) string {
	t.Helper()
	scheme, hc := "http", &http.Client{Timeout: 500 * time.Millisecond}
	var extra []string
	if p != nil {
		scheme = "https"
		extra = []string{"--cert-file", p.ServerCert, "--key-file", p.ServerKey, "--client-cert-auth", "--trusted-ca-file", p.CA}
		hc.Transport = &http.Transport{TLSClientConfig: p.clientTLS(t)}
	}
	bin := testenv.LookPath(t, "etcd", "etcd-server", "/usr/bin/etcd")
	dir := t.TempDir()
	ports := freePorts(t, 2)
	client := "127.0.0.1:" + strconv.Itoa(ports[0])
	peer := "http://127.0.0.1:" + strconv.Itoa(ports[1])
	logPath := filepath.Join(dir, "etcd.log")
	logf, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, append([]string{"--name", "m0", "--data-dir", filepath.Join(dir, "data"),
		"--listen-client-urls", scheme + "://" + client, "--advertise-client-urls", scheme + "://" + client,
		"--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
		"--initial-cluster", "m0=" + peer, "--initial-cluster-state", "new",
		"--heartbeat-interval", "50", "--election-timeout", "500",
		"--logger", "zap", "--log-outputs", "stderr"}, extra...)...)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		logf.Close()
		t.Fatalf("starting etcd: %v", err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); logf.Close(); close(done) }()
	t.Cleanup(func() {
		select {
		case <-done:
		default:
			_ = cmd.Process.Kill()
			<-done
		}
	})
	testenv.WaitFor(t, 30*time.Second, "etcd to report healthy (log in "+logPath+")", func() bool {
		select {
		case <-done:
			b, _ := os.ReadFile(logPath)
			t.Fatalf("etcd exited while starting; the end of its log:\n%s", b[max(0, len(b)-2000):])
		default:
		}
		resp, err := hc.Get(scheme + "://" + client + "/health")
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
	return client
}

// freePorts returns k distinct ports on 127.0.0.1 that were free a moment
// ago: each is held until all are chosen.
func freePorts(t testing.TB, k int) []int {
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
