package api

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bluegreen/bluegreen"
)

// service answers with fixed values and records what it was asked; it
// stands in for the controller so that these tests exercise the HTTP layer
// alone (the end-to-end tests in cmd/bluegreen use the real one).
type service struct {
	lastSwitch bluegreen.SwitchRequest
	lastFilter bluegreen.HistoryFilter
	switchErr  error

	reportMu sync.Mutex
	reports  map[string]bluegreen.AgentReport
}

func (s *service) Status(context.Context) (bluegreen.Status, error) {
	return bluegreen.Status{State: bluegreen.State{Live: bluegreen.Blue, Revision: 7}}, nil
}
func (s *service) Switch(_ context.Context, r bluegreen.SwitchRequest) (bluegreen.SwitchResult, error) {
	s.lastSwitch = r
	if s.switchErr == nil && r.Progress != nil {
		r.Progress(bluegreen.SwitchProgress{Stage: bluegreen.SwitchLive, From: bluegreen.Blue, To: r.To, Revision: 8, InFlight: 2})
		r.Progress(bluegreen.SwitchProgress{Stage: bluegreen.SwitchDraining, From: bluegreen.Blue, To: r.To, Revision: 8, InFlight: 1})
	}
	return bluegreen.SwitchResult{From: bluegreen.Blue, To: r.To, Changed: true}, s.switchErr
}
func (s *service) Rollback(_ context.Context, r bluegreen.SwitchRequest) (bluegreen.SwitchResult, error) {
	return bluegreen.SwitchResult{}, bluegreen.Errorf(bluegreen.EREFUSED, "nothing to roll back")
}
func (s *service) History(_ context.Context, f bluegreen.HistoryFilter) ([]bluegreen.Event, error) {
	s.lastFilter = f
	return nil, nil
}
func (s *service) Live() bluegreen.Color { return bluegreen.Green }
func (s *service) Deploy(_ context.Context, r bluegreen.DeployRequest, progress func(bluegreen.Progress)) (bluegreen.Deployment, error) {
	if r.Ref == "bad" {
		return bluegreen.Deployment{}, bluegreen.Errorf(bluegreen.EINVALID, "bad ref")
	}
	progress(bluegreen.Progress{Step: "fetch", Line: "fetching " + r.Ref})
	progress(bluegreen.Progress{Step: "build 1/1", Line: "ok"})
	d := bluegreen.Deployment{ID: "d1", Color: r.Color, Ref: r.Ref, Actor: r.Actor}
	if r.Ref == "broken" {
		d.Status = bluegreen.DeploymentFailed
		return d, bluegreen.Errorf(bluegreen.EREFUSED, "build failed")
	}
	d.Status = bluegreen.DeploymentSucceeded
	return d, nil
}
func (s *service) DeployDetached(_ context.Context, r bluegreen.DeployRequest) (bluegreen.Deployment, error) {
	return bluegreen.Deployment{ID: "d2", Color: r.Color, Status: bluegreen.DeploymentRunning}, nil
}
func (s *service) Deployment(_ context.Context, id string) (bluegreen.Deployment, error) {
	if id != "d2" {
		return bluegreen.Deployment{}, bluegreen.Errorf(bluegreen.ENOTFOUND, "no deployment %q", id)
	}
	return bluegreen.Deployment{ID: id, Status: bluegreen.DeploymentRunning}, nil
}
func (s *service) DeploymentLog(id string, from int) ([]bluegreen.Progress, bool) {
	all := []bluegreen.Progress{{Step: "fetch"}, {Step: "build 1/1"}}
	return all[min(from, len(all)):], true
}
func (s *service) AppLog(c bluegreen.Color, n int) ([]string, error) {
	return []string{"a", "b"}[:min(n, 2)], nil
}
func (s *service) Lock() *bluegreen.Lock {
	return &bluegreen.Lock{Owner: "alice", What: "deploy green"}
}
func (s *service) ReleaseLock(_ context.Context, actor string, force bool) error {
	if !force {
		return bluegreen.Errorf(bluegreen.EREFUSED, "running")
	}
	return nil
}

func (s *service) Verify(_ context.Context, r bluegreen.VerifyRequest, onResult func(bluegreen.CheckResult)) (bluegreen.Verification, error) {
	checks := []bluegreen.CheckResult{{Name: "health", Kind: "health", OK: true}, {Name: "home", Kind: "http", Error: "GET /: status 500, want 200"}}
	for _, c := range checks {
		onResult(c)
	}
	return bluegreen.Verification{Color: r.Color, By: r.Actor, Checks: checks, Reason: "1 of 2 checks failed"}, nil
}
func (s *service) Approve(_ context.Context, r bluegreen.ApproveRequest) (bluegreen.Approval, error) {
	return bluegreen.Approval{Color: r.Color, By: r.Actor, Reason: r.Reason}, nil
}

func (s *service) DNSPrepare(_ context.Context, ttl time.Duration, actor string) (bluegreen.DNSPrepareReport, error) {
	return bluegreen.DNSPrepareReport{Name: "app.example.test.", TTLSeconds: ttl.Seconds()}, nil
}

func (s *service) HostInfo(_ context.Context, host string) (bluegreen.HostInfo, error) {
	if host != "app-3" && host != "app-2" {
		return bluegreen.HostInfo{}, bluegreen.Errorf(bluegreen.ENOTFOUND, "no color lists host %q", host)
	}
	return bluegreen.HostInfo{Name: host, Color: bluegreen.Green, Address: "10.0.0.3:8000",
		Health: bluegreen.HostHealth{Name: host, Address: "10.0.0.3:8000", Healthy: true}}, nil
}

func (s *service) AgentReport(ctx context.Context, host string, rep bluegreen.AgentReport, _ time.Duration) (bluegreen.HostInfo, error) {
	hi, err := s.HostInfo(ctx, host)
	if err != nil {
		return hi, err
	}
	s.reportMu.Lock()
	defer s.reportMu.Unlock()
	if s.reports == nil {
		s.reports = map[string]bluegreen.AgentReport{}
	}
	s.reports[host] = rep
	hi.Order = &bluegreen.HostOrder{Deployment: "d1", Color: hi.Color, SHA: strings.Repeat("a", 40), Run: "app"}
	return hi, nil
}

func (s *service) HostLog(_ context.Context, host string, n int) ([]string, error) {
	s.reportMu.Lock()
	defer s.reportMu.Unlock()
	rep, ok := s.reports[host]
	if !ok {
		return nil, bluegreen.Errorf(bluegreen.ENOTFOUND, "the agent of host %s has not reported", host)
	}
	return rep.Log[max(0, len(rep.Log)-n):], nil
}

func newServer(t *testing.T, svc Service) (*httptest.Server, *Client) {
	t.Helper()
	srv := httptest.NewServer(NewHandler(svc, Options{Token: "s3cret", ColorPath: "/deployment/color/"}))
	t.Cleanup(srv.Close)
	return srv, NewClient(srv.URL, "s3cret", "tester@host")
}

func TestClientServerRoundTrip(t *testing.T) {
	svc := &service{}
	_, c := newServer(t, svc)
	ctx := context.Background()
	st, err := c.Status(ctx)
	if err != nil || st.State.Revision != 7 {
		t.Fatalf("status %+v %v", st, err)
	}
	res, err := c.Switch(ctx, bluegreen.SwitchRequest{To: bluegreen.Green, Force: true, Reason: "why"})
	if err != nil || res.To != bluegreen.Green {
		t.Fatalf("switch %+v %v", res, err)
	}
	if r := svc.lastSwitch; r.To != bluegreen.Green || !r.Force || r.Reason != "why" || r.Actor != "tester@host" {
		t.Fatalf("the service got %+v", r)
	}
	if _, err := c.Rollback(ctx, bluegreen.SwitchRequest{}); bluegreen.ErrorCode(err) != bluegreen.EREFUSED || err.Error() != "nothing to roll back" {
		t.Fatalf("rollback error %v (code %s)", err, bluegreen.ErrorCode(err))
	}
	svc.switchErr = bluegreen.Errorf(bluegreen.ECONFLICT, "busy")
	if _, err := c.Switch(ctx, bluegreen.SwitchRequest{To: bluegreen.Blue}); bluegreen.ErrorCode(err) != bluegreen.ECONFLICT {
		t.Fatalf("conflict error %v", err)
	}
	if _, err := c.History(ctx, bluegreen.HistoryFilter{Color: bluegreen.Blue, Action: "switch", Actor: "a b", Limit: 5, BeforeID: 9}); err != nil {
		t.Fatal(err)
	}
	if f := svc.lastFilter; f.Color != bluegreen.Blue || f.Action != "switch" || f.Actor != "a b" || f.Limit != 5 || f.BeforeID != 9 {
		t.Fatalf("the service got filter %+v", f)
	}
	if l, err := c.Lock(ctx); err != nil || l == nil || l.Owner != "alice" {
		t.Fatalf("lock %+v %v", l, err)
	}
	if err := c.ReleaseLock(ctx, false); bluegreen.ErrorCode(err) != bluegreen.EREFUSED {
		t.Fatalf("release without force: %v", err)
	}
	if err := c.ReleaseLock(ctx, true); err != nil {
		t.Fatalf("release with force: %v", err)
	}
	if col, err := c.Color(ctx); err != nil || col != bluegreen.Green {
		t.Fatalf("color %q %v", col, err)
	}
}

func TestBadRequests(t *testing.T) {
	srv, _ := newServer(t, &service{})
	for _, tc := range []struct {
		method, path, body string
		status             int
		code               string
	}{
		{"POST", "/v1/switch", `{"color":"purple"}`, 400, bluegreen.EINVALID},
		{"POST", "/v1/switch", `{"colour":"blue"}`, 400, bluegreen.EINVALID},
		{"POST", "/v1/switch", `not json`, 400, bluegreen.EINVALID},
		{"GET", "/v1/history?limit=0", "", 400, bluegreen.EINVALID},
		{"GET", "/v1/history?color=red", "", 400, bluegreen.EINVALID},
		{"GET", "/v1/nothing", "", 404, bluegreen.ENOTFOUND},
		{"DELETE", "/v1/history", "", 404, bluegreen.ENOTFOUND},
	} {
		req, _ := http.NewRequest(tc.method, srv.URL+tc.path, strings.NewReader(tc.body))
		req.Header.Set("Authorization", "Bearer s3cret")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tc.status || !strings.Contains(string(b), `"code": "`+tc.code+`"`) {
			t.Errorf("%s %s %s: %d %s, want %d with code %s", tc.method, tc.path, tc.body, resp.StatusCode, b, tc.status, tc.code)
		}
	}
}

func TestColorPathExactAndOpen(t *testing.T) {
	srv, _ := newServer(t, &service{})
	for path, want := range map[string]int{"/deployment/color/": 200, "/v1/color": 200, "/livez": 200,
		"/deployment/color/x": 401, "/deployment/color": 401} {
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("GET %s without a token: %d, want %d", path, resp.StatusCode, want)
		}
	}
}

func TestDeployStream(t *testing.T) {
	_, c := newServer(t, &service{})
	ctx := context.Background()
	var steps []string
	d, err := c.Deploy(ctx, bluegreen.DeployRequest{Color: bluegreen.Green, Ref: "v1"}, func(p bluegreen.Progress) { steps = append(steps, string(p.Step)+": "+p.Line) })
	if err != nil || d.Status != bluegreen.DeploymentSucceeded || d.Actor != "tester@host" {
		t.Fatalf("deploy %+v %v", d, err)
	}
	if strings.Join(steps, "|") != "fetch: fetching v1|build 1/1: ok" {
		t.Fatalf("progress %q", steps)
	}
	d, err = c.Deploy(ctx, bluegreen.DeployRequest{Color: bluegreen.Green, Ref: "broken"}, nil)
	if bluegreen.ErrorCode(err) != bluegreen.EREFUSED || d.Status != bluegreen.DeploymentFailed {
		t.Fatalf("failed deploy %+v %v", d, err)
	}
	if _, err := c.Deploy(ctx, bluegreen.DeployRequest{Color: bluegreen.Green, Ref: "bad"}, nil); bluegreen.ErrorCode(err) != bluegreen.EINVALID {
		t.Fatalf("refused before starting: %v", err)
	}
}

func TestDetachedDeployAndFollow(t *testing.T) {
	_, c := newServer(t, &service{})
	ctx := context.Background()
	d, err := c.DeployDetached(ctx, bluegreen.DeployRequest{Color: bluegreen.Green})
	if err != nil || d.ID != "d2" || d.Status != bluegreen.DeploymentRunning {
		t.Fatalf("detached deploy %+v %v", d, err)
	}
	v, err := c.Deployment(ctx, "d2", 1)
	if err != nil || v.Deployment.ID != "d2" || len(v.Progress) != 1 || v.Progress[0].Step != "build 1/1" || !v.Known {
		t.Fatalf("deployment view %+v %v", v, err)
	}
	if _, err := c.Deployment(ctx, "nope", 0); bluegreen.ErrorCode(err) != bluegreen.ENOTFOUND {
		t.Fatalf("unknown deployment: %v", err)
	}
	if lines, err := c.AppLog(ctx, bluegreen.Blue, 1); err != nil || len(lines) != 1 || lines[0] != "a" {
		t.Fatalf("app log %q %v", lines, err)
	}
}

func TestVerifyStreamsChecksAndApprove(t *testing.T) {
	_, c := newServer(t, &service{})
	ctx := context.Background()
	var seen []string
	v, err := c.Verify(ctx, bluegreen.VerifyRequest{Color: bluegreen.Green}, func(r bluegreen.CheckResult) {
		seen = append(seen, r.Name)
	})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(seen, ",") != "health,home" || v.Passed || v.By != "tester@host" || len(v.Checks) != 2 {
		t.Errorf("verify: streamed %v, got %+v", seen, v)
	}
	if _, err := c.Verify(ctx, bluegreen.VerifyRequest{Color: "red"}, nil); bluegreen.ErrorCode(err) != bluegreen.EINVALID {
		t.Errorf("verify red: %v, want invalid", err)
	}
	a, err := c.Approve(ctx, bluegreen.ApproveRequest{Color: bluegreen.Green, Reason: "QA ok"})
	if err != nil || a.By != "tester@host" || a.Reason != "QA ok" {
		t.Errorf("approve: %+v, %v", a, err)
	}
	// Without a Metrics handler there is no /metrics route.
	if _, err := c.Metrics(ctx); bluegreen.ErrorCode(err) != bluegreen.ENOTFOUND {
		t.Errorf("metrics without a handler: %v, want not found", err)
	}
}

// TestClientKnowsTheAPIFromOtherServers: an address that answers but is not
// the API (the router's listeners pass calls on to an app, which may well
// answer 200 with JSON) is an error naming the address, never a silent
// success; so is an address that is not an http(s) URL; and a read that
// gets no answer ends at ReadTimeout instead of hanging.
func TestClientKnowsTheAPIFromOtherServers(t *testing.T) {
	var calls atomic.Int32
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"color":"green"}`)
	}))
	t.Cleanup(app.Close)
	c := NewClient(app.URL, "s3cret", "tester")
	if _, err := c.Switch(t.Context(), bluegreen.SwitchRequest{To: bluegreen.Green}); bluegreen.ErrorCode(err) != bluegreen.EINVALID ||
		!strings.Contains(err.Error(), app.URL+" is not a bluegreen API") {
		t.Fatalf("switch through an app: %v, want an invalid-address error naming %s", err, app.URL)
	}
	if col, err := c.Color(t.Context()); err == nil {
		t.Fatalf("color from an app: %q, no error", col)
	}
	if calls.Load() != 2 {
		t.Fatalf("the app got %d calls, want 2", calls.Load())
	}

	for _, bad := range []string{"ftp://127.0.0.1:1", "htp:/127.0.0.1:1", "http://host:port", "http://"} {
		if _, err := NewClient(bad, "t", "").Status(t.Context()); bluegreen.ErrorCode(err) != bluegreen.EINVALID {
			t.Errorf("status at %q: %v, want an invalid-address error", bad, err)
		}
	}

	// A listener that takes connections and never answers.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	accepted := make(chan net.Conn, 4)
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				close(accepted)
				return
			}
			accepted <- conn
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		for conn := range accepted {
			conn.Close()
		}
	})
	silent := NewClient(ln.Addr().String(), "t", "")
	silent.ReadTimeout = 200 * time.Millisecond
	_, err = silent.Status(t.Context())
	if bluegreen.ErrorCode(err) != bluegreen.EUNAVAILABLE || !strings.Contains(err.Error(), "did not answer GET /v1/status within 200ms") {
		t.Fatalf("status from a silent server: %v, want it unavailable after 200ms", err)
	}
}

// TestAuthSchemeIsCaseInsensitive: "bearer" and "BEARER" are the Bearer
// scheme (RFC 9110 section 11.1); another scheme, an empty token or a
// wrong one is 401, and every answer says it comes from the API.
func TestAuthSchemeIsCaseInsensitive(t *testing.T) {
	srv, _ := newServer(t, &service{})
	for value, want := range map[string]int{
		"Bearer s3cret": 200, "bearer s3cret": 200, "BEARER s3cret": 200,
		"Basic s3cret": 401, "Bearer ": 401, "bearer wrong": 401, "s3cret": 401, "": 401,
	} {
		req, err := http.NewRequest(http.MethodGet, srv.URL+"/v1/status", nil)
		if err != nil {
			t.Fatal(err)
		}
		if value != "" {
			req.Header.Set("Authorization", value)
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != want || res.Header.Get(APIHeader) != "1" {
			t.Errorf("Authorization %q: %d (%s %q), want %d from the API", value, res.StatusCode, APIHeader, res.Header.Get(APIHeader), want)
		}
	}
}
