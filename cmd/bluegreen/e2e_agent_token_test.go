package main

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/bluegreen/bluegreen"
	"github.com/bluegreen/bluegreen/internal/testenv"
)

// TestAgentToken (issue 26, second step): an agent token made with
// `token create --role agent --host app-3` reads its own host through GET
// /v1/agent/app-3 (the color that lists it, its address, its health) and
// nothing else: not another host's info, report, release or log, not
// status, switch, rollback, deploy, verify or tokens; the admin
// token may not call the agent route; revoked, it is refused 401.
func TestAgentToken(t *testing.T) {
	t.Parallel()
	blue, _ := startApp(t, "blue")
	app3, _ := startApp(t, "green")
	app4, _ := startApp(t, "green")
	cfg := writeHostsConfig(t, blue, app3, app4)
	s := startServe(t, cfg)

	if _, errOut, code := s.cli(t, "token", "create", "--name", "nohost", "--role", "agent"); code != 2 || !strings.Contains(errOut, "--host") {
		t.Fatalf("an agent token without --host: exit %d, %q; want 2 asking for --host", code, errOut)
	}
	if _, errOut, code := s.cli(t, "token", "create", "--name", "v", "--role", "viewer", "--host", "app-3"); code != 2 {
		t.Fatalf("a viewer token with --host: exit %d, %q; want 2", code, errOut)
	}
	secret := strings.TrimSpace(s.mustCLI(t, "token", "create", "--name", "agent-app-3", "--role", "agent", "--host", "app-3"))
	if !strings.HasPrefix(secret, "bg_") {
		t.Fatalf("token create printed %q", secret)
	}
	if out := s.mustCLI(t, "token", "list"); !strings.Contains(out, "HOST") || !strings.Contains(out, "agent-app-3  agent  app-3") {
		t.Errorf("token list lacks the agent token's host:\n%s", out)
	}
	if out := s.mustCLI(t, "history", "--action", "token"); !strings.Contains(out, `token "agent-app-3" created with role agent for host app-3`) {
		t.Errorf("history lacks the creation naming the host:\n%s", out)
	}

	get := func(token, method, path string) (int, []byte) {
		t.Helper()
		req, err := http.NewRequestWithContext(t.Context(), method, "http://"+s.apiAd+path, strings.NewReader("{}"))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authorization", "Bearer "+token)
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		return resp.StatusCode, body
	}

	// Its own host, once the health checker has probed it.
	var hi bluegreen.HostInfo
	testenv.WaitFor(t, 15*time.Second, "GET /v1/agent/app-3 to answer app-3 healthy", func() bool {
		code, body := get(secret, "GET", "/v1/agent/app-3")
		if code != http.StatusOK {
			return false
		}
		if err := json.Unmarshal(body, &hi); err != nil {
			t.Fatalf("%s: %v", body, err)
		}
		return hi.Health.Healthy
	})
	if hi.Name != "app-3" || hi.Color != bluegreen.Green || hi.Address != app3 || hi.Health.Checked.IsZero() {
		t.Errorf("app-3's own view: %+v; want green at %s, checked", hi, app3)
	}

	// Nothing else.
	for _, route := range []string{"GET /v1/agent/app-4", "POST /v1/agent/app-4", "GET /v1/agent/app-4/release/" + strings.Repeat("a", 40),
		"GET /v1/status", "GET /v1/history", "GET /v1/logs/green?host=app-4", "POST /v1/switch", "POST /v1/rollback",
		"POST /v1/deploy", "POST /v1/verify", "POST /v1/tokens", "GET /v1/tokens", "DELETE /v1/tokens/admin"} {
		method, path, _ := strings.Cut(route, " ")
		if code, body := get(secret, method, path); code != http.StatusForbidden {
			t.Errorf("agent token, %s: %d %s; want 403", route, code, body)
		}
	}
	if code, body := get(s.token, "GET", "/v1/agent/app-3"); code != http.StatusForbidden {
		t.Errorf("admin token on the agent route: %d %s; want 403", code, body)
	}
	if out := s.mustCLI(t, "history", "--action", "access"); !strings.Contains(out, `token "agent-app-3" (agent of host app-3) may not GET /v1/agent/{host}`) {
		t.Errorf("history lacks the refusal of app-4's route:\n%s", out)
	}
	if col := strings.TrimSpace(s.mustCLI(t, "color")); col != "blue" {
		t.Errorf("live color %s after the agent's refused switch, want blue", col)
	}

	s.mustCLI(t, "token", "revoke", "agent-app-3")
	if code, body := get(secret, "GET", "/v1/agent/app-3"); code != http.StatusUnauthorized {
		t.Errorf("revoked agent token: %d %s; want 401", code, body)
	}
}
