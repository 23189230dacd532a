package api

import (
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bluegreen/bluegreen"
	"github.com/bluegreen/bluegreen/store/sqlite"
)

// agentServer serves the fake service with named tokens in a real SQLite
// store, recording the API's own events.
type agentServer struct {
	url   string
	admin *Client
	mu    sync.Mutex
	evs   []bluegreen.Event
}

func (a *agentServer) events() []bluegreen.Event {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]bluegreen.Event(nil), a.evs...)
}

func newAgentServer(t *testing.T) *agentServer {
	t.Helper()
	return newAgentServerOf(t, &service{})
}

// newAgentServerOf is newAgentServer serving svc.
func newAgentServerOf(t *testing.T, svc Service) *agentServer {
	t.Helper()
	st, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "state.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	a := &agentServer{}
	srv := httptest.NewServer(NewHandler(svc, Options{Token: "s3cret", Tokens: st, Record: func(e bluegreen.Event) {
		a.mu.Lock()
		a.evs = append(a.evs, e)
		a.mu.Unlock()
	}}))
	t.Cleanup(srv.Close)
	a.url, a.admin = srv.URL, NewClient(srv.URL, "s3cret", "tester@host")
	return a
}

// call makes a raw call with secret and returns its status.
func call(t *testing.T, base, secret, method, path string) int {
	t.Helper()
	body := strings.NewReader("{}")
	req, err := http.NewRequestWithContext(t.Context(), method, base+path, body)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+secret)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

func TestAgentTokenCreation(t *testing.T) {
	a := newAgentServer(t)
	ctx := t.Context()
	for _, req := range []TokenRequest{
		{Name: "a1", Role: bluegreen.RoleAgent},
		{Name: "a2", Role: bluegreen.RoleAgent, Host: "App_3"},
		{Name: "a3", Role: bluegreen.RoleViewer, Host: "app-3"},
		{Name: "a4", Role: bluegreen.RoleAdmin, Host: "app-3"},
	} {
		if _, err := a.admin.CreateToken(ctx, req); bluegreen.ErrorCode(err) != bluegreen.EINVALID {
			t.Errorf("create %+v: %v, want invalid", req, err)
		}
	}
	nt, err := a.admin.CreateToken(ctx, TokenRequest{Name: "agent-app-3", Role: bluegreen.RoleAgent, Host: "app-3"})
	if err != nil || nt.Token.Host != "app-3" || nt.Token.Role != bluegreen.RoleAgent {
		t.Fatalf("create agent token: %+v, %v", nt, err)
	}
	ts, err := a.admin.Tokens(ctx)
	if err != nil || len(ts) != 1 || ts[0].Host != "app-3" {
		t.Fatalf("tokens: %+v, %v; want the agent token with its host", ts, err)
	}
	evs := a.events()
	if len(evs) != 1 || evs[0].Details["host"] != "app-3" || !strings.Contains(evs[0].Message, "for host app-3") {
		t.Errorf("history of the creation: %+v; want one event naming host app-3", evs)
	}
}

func TestAgentTokenScope(t *testing.T) {
	a := newAgentServer(t)
	ctx := t.Context()
	agent, err := a.admin.CreateToken(ctx, TokenRequest{Name: "agent-app-3", Role: bluegreen.RoleAgent, Host: "app-3"})
	if err != nil {
		t.Fatal(err)
	}
	viewer, err := a.admin.CreateToken(ctx, TokenRequest{Name: "viewer", Role: bluegreen.RoleViewer})
	if err != nil {
		t.Fatal(err)
	}

	// Nothing of the other roles' routes.
	for _, route := range []string{"GET /v1/status", "GET /v1/history", "POST /v1/switch", "POST /v1/deploy",
		"POST /v1/tokens", "GET /v1/tokens", "DELETE /v1/tokens/viewer", "GET /v1/whoami"} {
		method, path, _ := strings.Cut(route, " ")
		if got := call(t, a.url, agent.Secret, method, path); got != http.StatusForbidden {
			t.Errorf("agent token, %s: status %d, want 403", route, got)
		}
	}
	// Its own host only.
	if got := call(t, a.url, agent.Secret, "GET", "/v1/agent/app-2"); got != http.StatusForbidden {
		t.Errorf("agent of app-3 reading app-2: status %d, want 403", got)
	}
	hi, err := NewClient(a.url, agent.Secret, "agent@app-3").HostInfo(ctx, "app-3")
	if err != nil || hi.Name != "app-3" || hi.Color != bluegreen.Green {
		t.Fatalf("agent of app-3 reading app-3: %+v, %v; want green's app-3", hi, err)
	}
	// No other role may call agent routes, admin included.
	for who, secret := range map[string]string{"admin": "s3cret", "viewer": viewer.Secret} {
		if got := call(t, a.url, secret, "GET", "/v1/agent/app-3"); got != http.StatusForbidden {
			t.Errorf("%s on the agent route: status %d, want 403", who, got)
		}
	}

	// The refusals are recorded, naming the token, its host and the route.
	var refusedHost bool
	for _, e := range a.events() {
		if e.Action != bluegreen.ActionAccess {
			continue
		}
		if e.Outcome != bluegreen.OutcomeRefused {
			t.Errorf("access event %+v is not a refusal", e)
		}
		if e.Details["token"] == "agent-app-3" && e.Details["wanted_host"] == "app-2" {
			refusedHost = e.Details["host"] == "app-3" && strings.Contains(e.Message, "GET /v1/agent/{host}")
		}
	}
	if !refusedHost {
		t.Errorf("no recorded refusal of app-3's agent reading app-2 naming token, host and route: %+v", a.events())
	}

	// Revoked: 401.
	if _, err := a.admin.RevokeToken(ctx, "agent-app-3"); err != nil {
		t.Fatal(err)
	}
	if got := call(t, a.url, agent.Secret, "GET", "/v1/agent/app-3"); got != http.StatusUnauthorized {
		t.Errorf("revoked agent token: status %d, want 401", got)
	}
}

// TestAgentReport: an agent reports for its own host only and gets its
// order back; the host's log is read through the color it belongs to.
func TestAgentReport(t *testing.T) {
	a := newAgentServer(t)
	ctx := t.Context()
	agent, err := a.admin.CreateToken(ctx, TokenRequest{Name: "agent-app-3", Role: bluegreen.RoleAgent, Host: "app-3"})
	if err != nil {
		t.Fatal(err)
	}
	c := NewClient(a.url, agent.Secret, "agent@app-3")
	rep := bluegreen.AgentReport{Version: "v1", PID: 42, Log: []string{"one", "two", "three"}}
	hi, err := c.Report(ctx, "app-3", rep, 0)
	if err != nil || hi.Name != "app-3" || hi.Order == nil || hi.Order.Deployment != "d1" {
		t.Fatalf("report of app-3: %+v, %v; want app-3's info with its order", hi, err)
	}
	if _, err := c.Report(ctx, "app-2", rep, 0); bluegreen.ErrorCode(err) != bluegreen.EFORBIDDEN {
		t.Errorf("agent of app-3 reporting for app-2: %v, want forbidden", err)
	}
	if got := call(t, a.url, "s3cret", "POST", "/v1/agent/app-3"); got != http.StatusForbidden {
		t.Errorf("admin reporting as an agent: status %d, want 403", got)
	}
	lines, err := a.admin.HostLog(ctx, bluegreen.Green, "app-3", 2)
	if err != nil || strings.Join(lines, ",") != "two,three" {
		t.Errorf("green's app-3 log: %q, %v; want its last 2 reported lines", lines, err)
	}
	if _, err := a.admin.HostLog(ctx, bluegreen.Blue, "app-3", 2); bluegreen.ErrorCode(err) != bluegreen.ENOTFOUND ||
		!strings.Contains(err.Error(), "green") {
		t.Errorf("blue's app-3 log: %v; want not found, naming green", err)
	}
	if _, err := a.admin.HostLog(ctx, bluegreen.Green, "app-2", 2); bluegreen.ErrorCode(err) != bluegreen.ENOTFOUND {
		t.Errorf("log of app-2, which never reported: %v; want not found", err)
	}
}

// TestAgentReportWait: a report's wait must be a duration within bounds.
func TestAgentReportWait(t *testing.T) {
	a := newAgentServer(t)
	agent, err := a.admin.CreateToken(t.Context(), TokenRequest{Name: "agent-app-3", Role: bluegreen.RoleAgent, Host: "app-3"})
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{"?wait=soon", "?wait=-1s", "?wait=2m"} {
		if got := call(t, a.url, agent.Secret, "POST", "/v1/agent/app-3"+q); got != http.StatusBadRequest {
			t.Errorf("report%s: status %d, want 400", q, got)
		}
	}
	if _, err := NewClient(a.url, agent.Secret, "agent@app-3").Report(t.Context(), "app-3", bluegreen.AgentReport{}, 2*time.Second); err != nil {
		t.Errorf("report with a 2s wait: %v", err)
	}
}
