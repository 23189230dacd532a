package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/bluegreen/bluegreen"
	"github.com/bluegreen/bluegreen/internal/etcdtest"
	"github.com/bluegreen/bluegreen/internal/testenv"
	"github.com/bluegreen/bluegreen/loadgen"
)

// hostPorts returns the members' client addresses without their scheme,
// as a state URL lists them.
func hostPorts(ms []*etcdtest.Member) []string {
	var eps []string
	for _, ep := range etcdtest.Endpoints(ms) {
		eps = append(eps, strings.TrimPrefix(ep, "http://"))
	}
	return eps
}

// loadEach starts a load client on each serve's public listener; they
// stop when ctx ends or with Stop.
func loadEach(t *testing.T, ctx context.Context, serves []*server) []*loadgen.Runner {
	t.Helper()
	var loads []*loadgen.Runner
	for _, s := range serves {
		l, err := loadgen.Start(ctx, loadgen.Options{URL: "http://" + s.public + "/", Connections: 2, Rate: 300})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { l.Stop() })
		loads = append(loads, l)
	}
	return loads
}

// served waits until each load client has had n more requests answered
// than it had when served was called, failing the test if any failed.
func served(t *testing.T, loads []*loadgen.Runner, n int64, what string) {
	t.Helper()
	for i, l := range loads {
		before := l.Snapshot().Requests
		testenv.WaitFor(t, 20*time.Second, what, func() bool { return l.Snapshot().Requests >= before+n })
		if r := l.Snapshot(); r.Failed != 0 {
			t.Fatalf("%s: edge-%d's load had %d of %d requests failed (%v %v)", what, i+1, r.Failed, r.Requests, r.Failures, r.FirstErrors)
		}
	}
}

// TestClusterQuorumLost stops two of three etcd members under three serves
// each under load: traffic flows on without a failed request, a switch
// through a follower and through the leader fails within its timeout
// naming the store, status says since when it is unreachable; with the
// members back the next switch reaches every instance.
func TestClusterQuorumLost(t *testing.T) {
	t.Parallel()
	ms := etcdtest.Start(t, 3)
	eps := hostPorts(ms)
	blue, _ := startApp(t, "blue")
	green, _ := startApp(t, "green")
	serves := startCluster(t, 3, eps, "quorum", blue, green, "")
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	loads := loadEach(t, ctx, serves)
	served(t, loads, 100, "traffic before the loss")

	ms[1].Kill()
	ms[2].Kill()
	served(t, loads, 600, "traffic after losing the quorum")

	for _, s := range []struct {
		role string
		s    *server
	}{{"a follower", serves[1]}, {"the leader", serves[0]}} {
		start := time.Now()
		out, errOut, code := s.s.cli(t, "switch", "green", "--timeout", "15s")
		took := time.Since(start)
		if code == 0 || !strings.Contains(errOut, "state store unreachable") || !strings.Contains(errOut, eps[0]) {
			t.Errorf("switch through %s without quorum: exit %d after %s\nstdout %q\nstderr %q\nwant a failure naming the store", s.role, code, took, out, errOut)
		}
		if took > 15*time.Second+3*time.Second {
			t.Errorf("switch through %s without quorum took %s, beyond its 15s timeout", s.role, took)
		}
	}
	for _, s := range serves {
		var st bluegreen.Status
		testenv.WaitFor(t, 15*time.Second, "status saying the store is unreachable", func() bool {
			out, _, code := s.cli(t, "status", "-o", "json")
			if code != 0 {
				return false
			}
			st = decodeJSON[bluegreen.Status](t, out)
			return st.Store != nil && st.Store.UnreachableSince != nil
		})
		if st.Store.Kind != "etcd" || !strings.Contains(st.Store.Where, eps[0]) || st.State.Live != bluegreen.Blue {
			t.Errorf("status without quorum: store %+v, live %s", *st.Store, st.State.Live)
		}
	}
	served(t, loads, 100, "traffic during the failed switches")

	ms[1].Restart(t)
	ms[2].Restart(t)
	var res bluegreen.SwitchResult
	var last string
	defer func() {
		if t.Failed() && last != "" {
			t.Logf("the last refused switch said: %s", last)
		}
	}()
	testenv.WaitFor(t, 60*time.Second, "a switch once the quorum is back", func() bool {
		out, errOut, code := serves[1].cli(t, "switch", "green", "--timeout", "15s", "-o", "json")
		if code != 0 {
			last = errOut
			return false
		}
		res = decodeJSON[bluegreen.SwitchResult](t, out)
		return true
	})
	if res.Routers == nil || len(res.Routers.Acked) != 3 || len(res.Routers.Missing) != 0 {
		t.Fatalf("the switch after the quorum came back: routers %+v, want edge-1..3 acked", res.Routers)
	}
	for i, l := range loads {
		before := l.Snapshot().ByColor["green"]
		testenv.WaitFor(t, 10*time.Second, "green served at every instance", func() bool { return l.Snapshot().ByColor["green"] > before+50 })
		if code, body, _ := get(t, "http://"+serves[i].public+"/"); code != 200 || !strings.Contains(body, "green") {
			t.Errorf("edge-%d answers %d %q after the switch, want green", i+1, code, body)
		}
	}
	for i, l := range loads {
		if r := l.Stop(); r.Failed != 0 {
			t.Errorf("edge-%d's load: %d of %d requests failed (%v %v)", i+1, r.Failed, r.Requests, r.Failures, r.FirstErrors)
		}
	}
}
