package api

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/bluegreen/bluegreen"
)

// TestFollowerForwardsToLeader: a follower passes a switch (its progress
// stream included) and a deploy to the leader, which serves them with
// the actor and token given to the follower; status is answered by the
// follower itself (which asks the leader for the agents it knows); a
// call forwarded to an instance that no longer leads
// is refused, not passed on again; no leader refuses with the reason.
func TestFollowerForwardsToLeader(t *testing.T) {
	leaderSvc, followerSvc := &service{}, &service{}
	var forwardedBy, actorHeader string
	leader := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		forwardedBy, actorHeader = r.Header.Get(ForwardedHeader), r.Header.Get(ActorHeader)
		NewHandler(leaderSvc, Options{Token: "s3cret"}).ServeHTTP(w, r)
	}))
	t.Cleanup(leader.Close)
	leaderErr := error(nil)
	follower := httptest.NewServer(NewHandler(followerSvc, Options{Token: "s3cret",
		Leader: func(context.Context) (string, string, bool, error) { return leader.URL, "edge-2", false, leaderErr }}))
	t.Cleanup(follower.Close)
	c := NewClient(follower.URL, "s3cret", "alice@laptop")

	var stages []string
	res, err := c.Switch(t.Context(), bluegreen.SwitchRequest{To: bluegreen.Green, Progress: func(p bluegreen.SwitchProgress) {
		stages = append(stages, string(p.Stage))
	}})
	if err != nil || !res.Changed || res.To != bluegreen.Green {
		t.Fatalf("switch through the follower: %+v, %v", res, err)
	}
	if leaderSvc.lastSwitch.To != bluegreen.Green || leaderSvc.lastSwitch.Actor != "alice@laptop" || followerSvc.lastSwitch.To != "" {
		t.Errorf("leader saw %+v, follower %+v; want the leader to switch, as alice", leaderSvc.lastSwitch, followerSvc.lastSwitch)
	}
	if forwardedBy != "edge-2" || len(stages) != 2 {
		t.Errorf("forwarded by %q, progress %q; want edge-2 and both stages streamed", forwardedBy, stages)
	}
	// A caller that names no actor is recorded by its own address, not
	// the follower's.
	if _, err := NewClient(follower.URL, "s3cret", "").Switch(t.Context(), bluegreen.SwitchRequest{To: bluegreen.Green}); err != nil {
		t.Fatal(err)
	}
	if a := leaderSvc.lastSwitch.Actor; !strings.HasPrefix(a, "api@127.0.0.1:") || actorHeader != a {
		t.Errorf("actor without a header %q (header %q); want the client's address, given by the follower", a, actorHeader)
	}
	if d, err := c.Deploy(t.Context(), bluegreen.DeployRequest{Color: bluegreen.Green, Ref: "v1"}, nil); err != nil || d.Status != bluegreen.DeploymentSucceeded {
		t.Errorf("deploy through the follower: %+v, %v", d, err)
	}
	forwardedBy = "untouched"
	if st, err := c.Status(t.Context()); err != nil || st.State.Revision != 7 || forwardedBy != "edge-2" {
		t.Errorf("status: %v, forwarded by %q; want it answered by the follower, which asked the leader for its agents", err, forwardedBy)
	}
	forwardedBy = "untouched"
	if _, err := NewClient(follower.URL, "wrong", "mallory").Switch(t.Context(), bluegreen.SwitchRequest{To: bluegreen.Blue}); bluegreen.ErrorCode(err) != bluegreen.EUNAUTHORIZED || forwardedBy != "untouched" {
		t.Errorf("a wrong token: %v, forwarded by %q; want refused by the follower, never forwarded", err, forwardedBy)
	}

	// Forwarded once already, to an instance that does not lead.
	req, _ := http.NewRequest(http.MethodPost, follower.URL+"/v1/switch", strings.NewReader(`{"to":"blue"}`))
	req.Header.Set("Authorization", "Bearer s3cret")
	req.Header.Set(ForwardedHeader, "edge-1")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable || forwardedBy != "untouched" {
		t.Errorf("a call forwarded to a non-leader: %d, forwarded by %q; want 503, not passed on", resp.StatusCode, forwardedBy)
	}

	leaderErr = bluegreen.Errorf(bluegreen.EUNAVAILABLE, "state store unreachable: etcd at 127.0.0.1:2379: no leader")
	_, err = c.Switch(t.Context(), bluegreen.SwitchRequest{To: bluegreen.Blue})
	if bluegreen.ErrorCode(err) != bluegreen.EUNAVAILABLE || !strings.Contains(err.Error(), "state store unreachable: etcd at 127.0.0.1:2379") {
		t.Errorf("no leader: %v; want the store named", err)
	}

	leaderErr = nil
	leader.Close()
	_, err = c.Switch(t.Context(), bluegreen.SwitchRequest{To: bluegreen.Blue})
	if bluegreen.ErrorCode(err) != bluegreen.EUNAVAILABLE || !strings.Contains(err.Error(), "passing the call to the leader at") ||
		!strings.Contains(err.Error(), "the operation lock is held by alice since") || !strings.Contains(err.Error(), "(deploy green)") {
		t.Errorf("leader gone: %v; want EUNAVAILABLE naming the leader and the lock it holds", err)
	}
}

// statusService answers status with st.
type statusService struct {
	*service
	st bluegreen.Status
}

func (s *statusService) Status(context.Context) (bluegreen.Status, error) { return s.st, nil }

// TestFollowerStatusHasTheLeadersAgents: agents report to the leader, so a
// follower's status shows each host's agent as the leader knows it; with
// the leader gone it answers without them, at once.
func TestFollowerStatusHasTheLeadersAgents(t *testing.T) {
	hosts := func(agent *bluegreen.AgentSeen) bluegreen.Status {
		return bluegreen.Status{State: bluegreen.State{Colors: map[bluegreen.Color]bluegreen.ColorState{
			bluegreen.Green: {Health: bluegreen.Health{Hosts: []bluegreen.HostHealth{{Name: "app-3", Agent: agent}}}}}}}
	}
	seen := &bluegreen.AgentSeen{Report: bluegreen.AgentReport{Version: "v9", PID: 42}}
	leader := httptest.NewServer(NewHandler(&statusService{&service{}, hosts(seen)}, Options{Token: "s3cret"}))
	t.Cleanup(leader.Close)
	follower := httptest.NewServer(NewHandler(&statusService{&service{}, hosts(nil)}, Options{Token: "s3cret",
		Leader: func(context.Context) (string, string, bool, error) { return leader.URL, "edge-2", false, nil }}))
	t.Cleanup(follower.Close)
	c := NewClient(follower.URL, "s3cret", "alice@laptop")
	st, err := c.Status(t.Context())
	if a := st.State.Colors[bluegreen.Green].Health.Hosts[0].Agent; err != nil || a == nil || a.Report.PID != 42 {
		t.Errorf("status through the follower: %+v, %v; want app-3's agent as the leader knows it", a, err)
	}
	leader.Close()
	st, err = c.Status(t.Context())
	if err != nil || st.State.Colors[bluegreen.Green].Health.Hosts[0].Agent != nil {
		t.Errorf("status with the leader gone: %+v, %v; want the follower's own, without agents", st, err)
	}
}
