package textout

import (
	"strings"
	"testing"
	"time"

	"github.com/bluegreen/bluegreen"
)

// TestStatusInstancesAndStore: the report lists the instances sharing the
// state, marks the one that answered, and says since when the store is
// unreachable.
func TestStatusInstancesAndStore(t *testing.T) {
	now := time.Date(2026, 12, 7, 22, 10, 0, 0, time.UTC)
	since := now.Add(-42 * time.Second)
	st := bluegreen.Status{Now: now,
		State: bluegreen.State{Live: bluegreen.Green, Revision: 9, Since: now.Add(-time.Hour), Colors: map[bluegreen.Color]bluegreen.ColorState{}},
		Store: &bluegreen.StoreStatus{Kind: "etcd", Where: "etcd://127.0.0.1:2379/bg", UnreachableSince: &since, Error: "context deadline exceeded"},
		Instances: []bluegreen.Instance{
			{ID: "edge-1", Role: bluegreen.RoleLeader, Color: bluegreen.Green, Revision: 9, Heartbeat: now.Add(-44 * time.Second), Address: "127.0.0.1:9001"},
			{ID: "edge-2", Role: bluegreen.RoleFollower, Color: bluegreen.Green, Revision: 9, Heartbeat: now.Add(-43 * time.Second), Address: "127.0.0.1:9002", Self: true},
		}}
	var b strings.Builder
	Status(&b, st)
	out := b.String()
	for _, want := range []string{
		"state store: etcd://127.0.0.1:2379/bg is UNREACHABLE since ", " (42s ago): this router serves the last color it saw",
		"(context deadline exceeded)",
		"2 serve instances on etcd://127.0.0.1:2379/bg:",
		"edge-1             leader    green   9         44s ago    127.0.0.1:9001",
		"edge-2 (this one)  follower  green   9         43s ago    127.0.0.1:9002",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("status report lacks %q:\n%s", want, out)
		}
	}
	st.Store, st.Instances = &bluegreen.StoreStatus{Kind: "sqlite", Where: "/srv/bg/state.db"}, nil
	b.Reset()
	Status(&b, st)
	if out := b.String(); strings.Contains(out, "state store") || strings.Contains(out, "instances") {
		t.Errorf("a reachable store alone is not worth a line:\n%s", out)
	}
}

// TestStatusHosts: a color that lists hosts gets one line per host under
// the table, with the reason of an unhealthy one; a color of plain
// upstreams gets none.
func TestStatusHosts(t *testing.T) {
	now := time.Date(2026, 12, 7, 22, 10, 0, 0, time.UTC)
	reason := "10.0.0.4:8000: GET /: dial tcp 10.0.0.4:8000: connect: connection refused"
	st := bluegreen.Status{Now: now, State: bluegreen.State{Live: bluegreen.Blue, Since: now,
		Colors: map[bluegreen.Color]bluegreen.ColorState{
			bluegreen.Blue: {Upstreams: []string{"127.0.0.1:9001"}, Health: bluegreen.Health{Status: bluegreen.HealthHealthy}},
			bluegreen.Green: {Upstreams: []string{"10.0.0.3:8000", "10.0.0.4:8000"}, Health: bluegreen.Health{
				Status: bluegreen.HealthUnhealthy, Reason: reason, Hosts: []bluegreen.HostHealth{
					{Name: "app-3", Address: "10.0.0.3:8000", Healthy: true, Checked: now},
					{Name: "app-4", Address: "10.0.0.4:8000", Reason: reason, Checked: now}}}},
		}}}
	var b strings.Builder
	Status(&b, st)
	out := b.String()
	table := strings.Index(out, "COLOR")
	for _, want := range []string{
		"\ngreen  app-3  10.0.0.3:8000  healthy\n",
		"\ngreen  app-4  10.0.0.4:8000  UNHEALTHY: " + reason + "\n",
	} {
		if i := strings.Index(out, want); i < 0 || i < table {
			t.Errorf("status report lacks %q under the table:\n%s", want, out)
		}
	}
	if n := strings.Count(out, "\nblue "); n != 1 {
		t.Errorf("%d lines start with blue, want 1 (its row; a color of plain upstreams gets no host lines):\n%s", n, out)
	}
}

// TestStatusHostAgents: with agents, each host line says what its agent
// last reported, and a host without a report says so.
func TestStatusHostAgents(t *testing.T) {
	now := time.Date(2026, 12, 8, 1, 0, 0, 0, time.UTC)
	sha := "0123456789abcdef0123456789abcdef01234567"
	st := bluegreen.Status{Now: now, State: bluegreen.State{Live: bluegreen.Blue, Since: now,
		Colors: map[bluegreen.Color]bluegreen.ColorState{
			bluegreen.Green: {Health: bluegreen.Health{Status: bluegreen.HealthHealthy, Hosts: []bluegreen.HostHealth{
				{Name: "app-3", Address: "10.0.0.3:8000", Healthy: true, Agent: &bluegreen.AgentSeen{
					LastSeen: now.Add(-2 * time.Second), Report: bluegreen.AgentReport{Version: "v9", Release: sha, AppPID: 4242}}},
				{Name: "app-4", Address: "10.0.0.4:8000", Healthy: true}}}},
		}}}
	var b strings.Builder
	Status(&b, st)
	out := b.String()
	for _, want := range []string{
		"green  app-3  10.0.0.3:8000  agent v9, seen 2s ago, runs 0123456789ab (pid 4242)  healthy\n",
		"green  app-4  10.0.0.4:8000  no agent report                                      healthy\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("status report lacks %q:\n%s", want, out)
		}
	}
}

func TestNewLines(t *testing.T) {
	for _, c := range []struct {
		prev, window, want string
	}{
		{"a b c", "a b c", ""},
		{"a b c", "b c d e", "d e"},
		{"b c", "a b c d", "d"}, // a longer window than prev: its old lines are not new
		{"a b", "x y", "x y"},   // no overlap: all new
		{"", "a b", "a b"},
		{"a b c", "c c d", "c d"}, // only the first c can end prev: the second is new
	} {
		got := strings.Join(NewLines(strings.Fields(c.prev), strings.Fields(c.window)), " ")
		if got != c.want {
			t.Errorf("NewLines(%q, %q) = %q, want %q", c.prev, c.window, got, c.want)
		}
	}
}
