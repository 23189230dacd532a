package check

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bluegreen/bluegreen"
)

func upstream(t *testing.T, status *atomic.Int32) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/healthz" {
			http.NotFound(w, r)
			return
		}
		w.WriteHeader(int(status.Load()))
	}))
	t.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "http://")
}

func spec() HTTPSpec {
	return HTTPSpec{Path: "/healthz", Status: 200, Interval: time.Hour, Timeout: time.Second,
		HealthyThreshold: 2, UnhealthyThreshold: 2}
}

func TestThresholds(t *testing.T) {
	var status atomic.Int32
	status.Store(200)
	addr := upstream(t, &status)
	var changes []bluegreen.HealthStatus
	m := NewMonitor(map[bluegreen.Color]Target{bluegreen.Blue: {Upstreams: []string{addr}, Spec: spec()}},
		func(c bluegreen.Color, h bluegreen.Health) { changes = append(changes, h.Status) }, nil)
	ctx := context.Background()

	if h := m.Health(bluegreen.Blue); h.Status != bluegreen.HealthUnknown {
		t.Fatalf("before any check: %v, want unknown", h.Status)
	}
	if h := m.Check(ctx, bluegreen.Blue); h.Status != bluegreen.HealthUnknown {
		t.Fatalf("after 1 pass of 2: %v, want unknown", h.Status)
	}
	if h := m.Check(ctx, bluegreen.Blue); h.Status != bluegreen.HealthHealthy {
		t.Fatalf("after 2 passes: %v, want healthy", h.Status)
	}
	status.Store(500)
	if h := m.Check(ctx, bluegreen.Blue); h.Status != bluegreen.HealthHealthy {
		t.Fatalf("after 1 failure of 2: %v, want still healthy", h.Status)
	}
	h := m.Check(ctx, bluegreen.Blue)
	if h.Status != bluegreen.HealthUnhealthy {
		t.Fatalf("after 2 failures: %v, want unhealthy", h.Status)
	}
	want := addr + ": GET /healthz: status 500, want 200"
	if h.Reason != want {
		t.Fatalf("reason %q, want %q", h.Reason, want)
	}
	if got := []bluegreen.HealthStatus{bluegreen.HealthHealthy, bluegreen.HealthUnhealthy}; len(changes) != 2 || changes[0] != got[0] || changes[1] != got[1] {
		t.Fatalf("changes %v, want %v", changes, got)
	}
}

func TestDownUpstreamIsUnhealthyAtOnce(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens there now
	m := NewMonitor(map[bluegreen.Color]Target{bluegreen.Green: {Upstreams: []string{addr}, Spec: spec()}}, nil, nil)
	h := m.Check(context.Background(), bluegreen.Green)
	if h.Status != bluegreen.HealthUnhealthy || !strings.Contains(h.Reason, "connection refused") {
		t.Fatalf("got %+v, want unhealthy with connection refused", h)
	}
}

func TestRunChecksInBackground(t *testing.T) {
	var status atomic.Int32
	status.Store(200)
	s := spec()
	s.Interval = 10 * time.Millisecond
	s.HealthyThreshold = 1
	changed := make(chan bluegreen.Health, 4)
	m := NewMonitor(map[bluegreen.Color]Target{bluegreen.Blue: {Upstreams: []string{upstream(t, &status)}, Spec: s}},
		func(c bluegreen.Color, h bluegreen.Health) { changed <- h }, nil)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { m.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()
	select {
	case h := <-changed:
		if h.Status != bluegreen.HealthHealthy {
			t.Fatalf("first change %v, want healthy", h.Status)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no verdict within 5s")
	}
	status.Store(503)
	select {
	case h := <-changed:
		if h.Status != bluegreen.HealthUnhealthy {
			t.Fatalf("second change %v, want unhealthy", h.Status)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no unhealthy verdict within 5s")
	}
}

func TestVerifyReportsTheFreshRound(t *testing.T) {
	var status atomic.Int32
	status.Store(200)
	addr := upstream(t, &status)
	s := spec() // unhealthy only after 2 failing rounds
	m := NewMonitor(map[bluegreen.Color]Target{bluegreen.Blue: {Upstreams: []string{addr}, Spec: s}}, nil, nil)
	ctx := context.Background()
	m.Check(ctx, bluegreen.Blue)
	if h, err := m.Verify(ctx, bluegreen.Blue); err != nil || h.Status != bluegreen.HealthHealthy {
		t.Fatalf("two passes: %v %v", h.Status, err)
	}
	status.Store(500)
	h, err := m.Verify(ctx, bluegreen.Blue)
	if err == nil || h.Status != bluegreen.HealthHealthy {
		t.Fatalf("one failure: verdict %v (want still healthy), round error %v (want the failure)", h.Status, err)
	}
	if _, err := m.Verify(ctx, bluegreen.Green); err == nil {
		t.Fatal("Verify of a color without a check passed")
	}
}

func TestPerHostHealth(t *testing.T) {
	var ok, failing atomic.Int32
	ok.Store(200)
	failing.Store(503)
	a, b := upstream(t, &ok), upstream(t, &failing)
	at := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	m := NewMonitor(map[bluegreen.Color]Target{
		bluegreen.Green: {Upstreams: []string{a, b}, Hosts: []string{"app-3", "app-4"}, Spec: spec()},
		bluegreen.Blue:  {Upstreams: []string{a}, Spec: spec()},
	}, nil, nil)
	m.now = func() time.Time { return at }
	ctx := context.Background()

	if h := m.Health(bluegreen.Green); h.Hosts != nil {
		t.Fatalf("before any round: Hosts = %v, want nil", h.Hosts)
	}
	h := m.Check(ctx, bluegreen.Green)
	want := []bluegreen.HostHealth{
		{Name: "app-3", Address: a, Healthy: true, Checked: at},
		{Name: "app-4", Address: b, Reason: b + ": GET /healthz: status 503, want 200", Checked: at},
	}
	if h.Status != bluegreen.HealthUnhealthy || !reflect.DeepEqual(h.Hosts, want) {
		t.Fatalf("one host failing: %+v, want unhealthy with hosts %+v", h, want)
	}
	if got := m.Health(bluegreen.Green).Hosts; !reflect.DeepEqual(got, want) {
		t.Fatalf("Health().Hosts = %+v, want %+v", got, want)
	}

	// The failing host recovers: each host's result follows every round,
	// while the color's verdict keeps its thresholds (2 passes).
	failing.Store(200)
	at = at.Add(time.Minute)
	h = m.Check(ctx, bluegreen.Green)
	if h.Status != bluegreen.HealthUnhealthy {
		t.Fatalf("after 1 pass of 2: %v, want still unhealthy", h.Status)
	}
	for i, hh := range h.Hosts {
		if !hh.Healthy || hh.Reason != "" || !hh.Checked.Equal(at) {
			t.Errorf("host %d after recovery: %+v, want healthy, checked at %v", i, hh, at)
		}
	}
	if h = m.Check(ctx, bluegreen.Green); h.Status != bluegreen.HealthHealthy || len(h.Hosts) != 2 {
		t.Fatalf("after 2 passes: %+v, want healthy with 2 hosts", h)
	}

	// A color of plain upstreams carries no per-host results.
	if h := m.Check(ctx, bluegreen.Blue); h.Hosts != nil {
		t.Errorf("plain upstreams: Hosts = %+v, want nil", h.Hosts)
	}
	// New upstreams restart the verdict, hosts included.
	m.SetTarget(bluegreen.Green, Target{Upstreams: []string{a}, Hosts: []string{"app-3"}, Spec: spec()})
	if h := m.Health(bluegreen.Green); h.Status != bluegreen.HealthUnknown || h.Hosts != nil {
		t.Errorf("after SetTarget: %+v, want unknown without hosts", h)
	}
}

// TestMinPass: with MinPass a round passes when that many upstreams pass,
// and each host's own result still shows the one that failed.
func TestMinPass(t *testing.T) {
	var ok, failing atomic.Int32
	ok.Store(200)
	failing.Store(503)
	a, b, c := upstream(t, &ok), upstream(t, &ok), upstream(t, &failing)
	target := Target{Upstreams: []string{a, b, c}, Hosts: []string{"app-1", "app-2", "app-3"}, Spec: spec()}
	strict, lenient := target, target
	lenient.MinPass = 2
	m := NewMonitor(map[bluegreen.Color]Target{bluegreen.Blue: strict, bluegreen.Green: lenient}, nil, nil)
	ctx := context.Background()
	if _, err := m.Verify(ctx, bluegreen.Blue); err == nil {
		t.Error("every host required, one failing: the round passed")
	}
	h, err := m.Verify(ctx, bluegreen.Green)
	if err != nil || h.Hosts[2].Healthy {
		t.Errorf("2 of 3 required, one failing: %v, hosts %+v; want passed, app-3 unhealthy", err, h.Hosts)
	}
	ok.Store(503) // now only one passes
	if _, err := m.Verify(ctx, bluegreen.Green); err == nil {
		t.Error("2 of 3 required, one passing: the round passed")
	}
}
