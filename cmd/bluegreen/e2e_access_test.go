package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bluegreen/bluegreen"
	"github.com/bluegreen/bluegreen/internal/testenv"
	"github.com/bluegreen/bluegreen/loadgen"
)

// startPlainServe starts two sample apps and a serve in front of them with
// extra top-level settings.
func startPlainServe(t *testing.T, extra string) *server {
	t.Helper()
	blue, _ := startApp(t, "blue")
	green, _ := startApp(t, "green")
	return startServe(t, writeConfig(t, t.TempDir(), blue, green, extra))
}

// cliWith runs a CLI verb against s with token and extra environment.
func (s *server) cliWith(t *testing.T, token string, env []string, args ...string) (string, string, int) {
	t.Helper()
	cmd := execCLI(append([]string{"--server", s.apiAd, "--token", token}, args...), env)
	var out, errb strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		t.Fatal(err)
	}
	return out.String(), errb.String(), cmd.ProcessState.ExitCode()
}

// TestRoles: a viewer reads and is refused changes, a deployer switches and
// is refused token management and a forced lock release; every refusal is
// a 403 recorded in the history; a revoked token is refused with 401.
func TestRoles(t *testing.T) {
	s := startPlainServe(t, "")
	viewer := strings.TrimSpace(s.mustCLI(t, "token", "create", "--name", "dashboard", "--role", "viewer"))
	nt := decodeJSON[struct {
		Token  bluegreen.Token `json:"token"`
		Secret string          `json:"secret"`
	}](t, s.mustCLI(t, "token", "create", "--name", "github-actions", "--role", "deployer", "-o", "json"))
	deployer := nt.Secret
	if !strings.HasPrefix(viewer, "bg_") || !strings.HasPrefix(deployer, "bg_") || nt.Token.Role != bluegreen.RoleDeployer {
		t.Fatalf("token create printed %q and %+v", viewer, nt)
	}

	allowed := func(token string, args ...string) {
		t.Helper()
		if out, errOut, code := s.cliWith(t, token, nil, args...); code != 0 {
			t.Fatalf("%v: exit %d\n%s%s", args, code, out, errOut)
		}
	}
	refused := func(token, need string, args ...string) {
		t.Helper()
		_, errOut, code := s.cliWith(t, token, nil, args...)
		if code != 1 || !strings.Contains(errOut, "needs the "+need+" role") {
			t.Fatalf("%v: exit %d, want 1 and a 403 naming the %s role:\n%s", args, code, need, errOut)
		}
	}
	allowed(viewer, "status")
	allowed(viewer, "history")
	allowed(viewer, "lock", "status")
	refused(viewer, "deployer", "switch", "green")
	refused(viewer, "deployer", "rollback")
	refused(viewer, "admin", "token", "list")
	allowed(deployer, "switch", "green")
	allowed(deployer, "rollback")
	refused(deployer, "admin", "token", "create", "--name", "x", "--role", "admin")
	refused(deployer, "admin", "lock", "release", "--force")
	refused(deployer, "admin", "handover")
	if col := strings.TrimSpace(s.mustCLI(t, "color")); col != "blue" {
		t.Fatalf("after the deployer's switch and rollback the live color is %s", col)
	}

	// The metrics are the viewer's too.
	req, _ := http.NewRequest(http.MethodGet, "http://"+s.apiAd+"/metrics", nil)
	req.Header.Set("Authorization", "Bearer "+viewer)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("/metrics with a viewer token: %s", resp.Status)
	}

	evs := decodeJSON[[]bluegreen.Event](t, s.mustCLI(t, "history", "--action", "access", "-o", "json"))
	if len(evs) != 6 {
		t.Fatalf("want 6 recorded refusals, got:\n%s", describeEvents(evs))
	}
	for _, ev := range evs {
		if ev.Outcome != bluegreen.OutcomeRefused || (ev.Details["token"] != "dashboard" && ev.Details["token"] != "github-actions") {
			t.Errorf("refusal event %+v", ev)
		}
	}
	sw := findEvent(t, history(t, s), "the deployer's switch", func(ev bluegreen.Event) bool {
		return ev.Action == bluegreen.ActionSwitch && ev.Outcome == bluegreen.OutcomeOK
	})
	if sw.Details["token"] != "github-actions" {
		t.Errorf("the switch event does not name the token: %+v", sw)
	}

	// Revoked: refused with 401; listed as revoked; secrets never listed.
	s.mustCLI(t, "token", "revoke", "dashboard")
	if _, errOut, code := s.cliWith(t, viewer, nil, "status"); code != 1 || !strings.Contains(errOut, "missing or wrong API token") {
		t.Fatalf("a revoked token: exit %d\n%s", code, errOut)
	}
	list := s.mustCLI(t, "token", "list")
	if !strings.Contains(list, "dashboard") || !strings.Contains(list, "github-actions") || strings.Contains(list, "bg_") {
		t.Fatalf("token list:\n%s", list)
	}
}

// TestHistoryRecordsCIRuns: an operation made from GitHub Actions records
// the GitHub actor, the token's name and a link to the run; history filters
// by actor, action, outcome and time.
func TestHistoryRecordsCIRuns(t *testing.T) {
	s := startPlainServe(t, "")
	secret := strings.TrimSpace(s.mustCLI(t, "token", "create", "--name", "github-actions", "--role", "deployer"))
	gh := []string{"BLUEGREEN_ACTOR=", "GITHUB_ACTIONS=true", "GITHUB_ACTOR=octocat", "GITHUB_REPOSITORY=team/backend",
		"GITHUB_RUN_ID=4242", "GITHUB_SERVER_URL=https://github.com"}
	if out, errOut, code := s.cliWith(t, secret, gh, "switch", "green", "--reason", "DNS Update"); code != 0 {
		t.Fatalf("switch from CI: %d\n%s%s", code, out, errOut)
	}
	out, _, _ := s.cliWith(t, secret, gh, "history", "--json", "--actor", "github:octocat run 4242", "--action", "switch",
		"--outcome", "ok", "--since", "1h")
	evs := decodeJSON[[]bluegreen.Event](t, out)
	if len(evs) != 1 {
		t.Fatalf("history filtered on the CI actor: %s", out)
	}
	ev := evs[0]
	if ev.Details["run_url"] != "https://github.com/team/backend/actions/runs/4242" || ev.Details["token"] != "github-actions" ||
		ev.Details["reason"] != "DNS Update" {
		t.Fatalf("CI switch event: %+v", ev)
	}
	if text := s.mustCLI(t, "history", "--action", "switch"); !strings.Contains(text, "(token github-actions)") ||
		!strings.Contains(text, "https://github.com/team/backend/actions/runs/4242") {
		t.Fatalf("history text does not show the token and the run:\n%s", text)
	}
	if out := s.mustCLI(t, "history", "--action", "switch", "--until", "2000-01-01T00:00:00Z", "-o", "json"); strings.TrimSpace(out) != "[]" {
		t.Fatalf("--until in the past: %s", out)
	}
}

// receiver is a local webhook receiver that keeps what it got.
type receiver struct {
	mu   sync.Mutex
	got  []map[string]any
	note chan struct{}
}

func newReceiver(t *testing.T) (*receiver, string) {
	r := &receiver{note: make(chan struct{}, 100)}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		var body map[string]any
		b, _ := io.ReadAll(req.Body)
		if err := json.Unmarshal(b, &body); err != nil {
			t.Errorf("webhook body is not JSON: %q", b)
		}
		r.mu.Lock()
		r.got = append(r.got, body)
		r.mu.Unlock()
		r.note <- struct{}{}
	}))
	t.Cleanup(srv.Close)
	return r, srv.URL + "/hooks/secret-path"
}

// waitKind waits until a received body of kind has a "text" that contains
// all of want.
func (r *receiver) waitKind(t *testing.T, d time.Duration, kind string, want ...string) map[string]any {
	t.Helper()
	deadline := time.After(d)
	for {
		r.mu.Lock()
		for _, b := range r.got {
			text, _ := b["text"].(string)
			ok := b["kind"] == kind
			for _, w := range want {
				ok = ok && strings.Contains(text, w)
			}
			if ok {
				r.mu.Unlock()
				return b
			}
		}
		r.mu.Unlock()
		select {
		case <-r.note:
		case <-deadline:
			r.mu.Lock()
			defer r.mu.Unlock()
			t.Fatalf("no webhook with %q in %s; got %v", want, d, r.got)
			return nil
		}
	}
}

// TestWebhooks: a receiver gets the switch and the automatic rollback; a
// receiver that is down fails nothing and its failure is recorded without
// its secret URL.
func TestWebhooks(t *testing.T) {
	rcv, url := newReceiver(t)
	downURL := fmt.Sprintf("http://127.0.0.1:%d/down/secret-token-path", freePort(t)) // nothing listens there
	r := newAppRepo(t)
	r.commit(t, "green", "green v2: every 5th request fails", map[string]string{"VERSION": "v2\n", "FAIL_EVERY": "5\n"})
	s := startGateServe(t, r, fmt.Sprintf(`watch: {window: 30s, interval: 250ms, min_requests: 40}
webhooks:
  - {name: ops, url: %q, format: json}
  - {name: slack, url: %q, format: slack, retries: 0, timeout: 1s}`, url, downURL), "")

	s.mustCLI(t, "deploy", "blue")
	s.mustCLI(t, "deploy", "green")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	load, err := loadgen.Start(ctx, loadgen.Options{URL: "http://" + s.public + "/", Connections: 4})
	if err != nil {
		t.Fatal(err)
	}
	defer load.Stop()
	if _, errOut, code := s.cli(t, "switch", "green"); code != 0 {
		t.Fatalf("switch with a webhook receiver down: exit %d\n%s", code, errOut)
	}
	sw := rcv.waitKind(t, 10*time.Second, "switch", "from blue to green")
	if ev, _ := sw["event"].(map[string]any); ev["actor"] != "e2e-tester" || ev["color"] != "green" {
		t.Errorf("switch webhook: %v", sw)
	}
	rb := rcv.waitKind(t, 30*time.Second, "rollback", "automatic rollback")
	if ev, _ := rb["event"].(map[string]any); ev["actor"] != "bluegreen (watch)" {
		t.Errorf("automatic rollback webhook: %v", rb)
	}
	load.Stop()

	testenv.WaitFor(t, 10*time.Second, "the down receiver's failure in the history", func() bool {
		out, _, _ := s.cli(t, "history", "--action", "notify", "-o", "json")
		return strings.Contains(out, `"slack"`)
	})
	out := s.mustCLI(t, "history", "--action", "notify", "-o", "json")
	if strings.Contains(out, "secret-token-path") || strings.Contains(out, "secret-path") {
		t.Fatalf("the notify failure leaks the webhook URL:\n%s", out)
	}
}

// TestAPITLS: with api_tls the API speaks HTTPS; the CLI verifies the
// server certificate against --ca-file and refuses a server it cannot
// verify.
func TestAPITLS(t *testing.T) {
	dir := t.TempDir()
	caFile, certFile, keyFile := writeTestPKI(t, dir)
	s := startPlainServe(t, fmt.Sprintf("api_tls: {cert: %s, key: %s}", certFile, keyFile))
	if !strings.HasPrefix(s.apiAd, "https://") {
		t.Fatalf("serve prints the API as %q, want https://", s.apiAd)
	}
	if out, errOut, code := s.cli(t, "--ca-file", caFile, "status"); code != 0 || !strings.Contains(out, "live: blue") {
		t.Fatalf("status over TLS with the CA: exit %d\n%s%s", code, out, errOut)
	}
	// A server given without a scheme is https when a CA file is given.
	bare := strings.TrimPrefix(s.apiAd, "https://")
	if out, errOut, code := runCLI(t, "--server", bare, "--token", s.token, "--ca-file", caFile, "status"); code != 0 || !strings.Contains(out, "live: blue") {
		t.Fatalf("status with --ca-file and no scheme: exit %d\n%s%s", code, out, errOut)
	}
	if _, errOut, code := runCLI(t, "--server", "http://"+bare, "--token", s.token, "--ca-file", caFile, "status"); code != 2 || !strings.Contains(errOut, "in clear") {
		t.Fatalf("http:// with --ca-file: exit %d\n%s", code, errOut)
	}
	if _, errOut, code := s.cli(t, "status"); code != 1 || !strings.Contains(errOut, "certificate") {
		t.Fatalf("status over TLS without the CA: exit %d, want a certificate error:\n%s", code, errOut)
	}
	if _, errOut, code := runCLI(t, "--server", "http://"+strings.TrimPrefix(s.apiAd, "https://"), "--token", s.token, "status"); code == 0 || !strings.Contains(errOut, "HTTPS server") {
		t.Fatalf("plain HTTP to the TLS API: exit %d\n%s", code, errOut)
	}
}

// writeTestPKI writes a CA and a certificate for 127.0.0.1 signed by it.
func writeTestPKI(t *testing.T, dir string) (caFile, certFile, keyFile string) {
	t.Helper()
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "bluegreen test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IsCA: true,
		KeyUsage: x509.KeyUsageCertSign, BasicConstraintsValid: true}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "127.0.0.1"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		KeyUsage: x509.KeyUsageDigitalSignature}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, _ := x509.MarshalECPrivateKey(key)
	write := func(name, typ string, b []byte, mode os.FileMode) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: b}), mode); err != nil {
			t.Fatal(err)
		}
		return p
	}
	return write("ca.pem", "CERTIFICATE", caDER, 0o644), write("api.pem", "CERTIFICATE", der, 0o644),
		write("api-key.pem", "EC PRIVATE KEY", keyDER, 0o600)
}

// execCLI returns the CLI command for args with the tests' actor and env
// added to the environment (later entries win).
func execCLI(args, env []string) *exec.Cmd {
	cmd := exec.Command(binPath, args...)
	cmd.Env = append(append(testEnv(), "BLUEGREEN_ACTOR=e2e-tester"), env...)
	return cmd
}
