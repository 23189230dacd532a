package main

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/bluegreen/bluegreen/internal/etcdtest"
)

// TestAgentsOnEtcd: agents work with the etcd store as with SQLite. Two
// serves share the state on etcd; every agent reports to the follower,
// which passes its reports and archive downloads to the leader; a deploy
// through the leader goes across the hosts, and a switch through the
// follower moves both routers.
func TestAgentsOnEtcd(t *testing.T) {
	t.Parallel()
	eps := etcdtest.Endpoints(etcdtest.Start(t, 1))
	f, cfg := planFleet(t, 2, "watch: {enabled: false}", "", nil)
	api := regexp.MustCompile(`(?m)^api: .*$`)
	var serves []*server
	for i := 1; i <= 2; i++ {
		c := strings.Replace(cfg, "state: state\n", fmt.Sprintf("state: etcd://%s/agents\ndata_dir: local\ncluster: {id: edge-%d, ttl: %s}\n",
			strings.Join(trimHTTP(eps), ","), i, clusterTTL), 1)
		c = api.ReplaceAllString(c, fmt.Sprintf("api: 127.0.0.1:%d", freePort(t)))
		path := filepath.Join(t.TempDir(), "bluegreen.yaml")
		if err := os.WriteFile(path, []byte(c), 0o644); err != nil {
			t.Fatal(err)
		}
		serves = append(serves, startServe(t, path))
		if i == 1 {
			waitLeader(t, serves, "edge-1")
		}
	}
	leader, follower := serves[0], serves[1]
	f.server = follower // the agents' serve
	f.startAgents(t)

	f.server = leader
	f.mustCLI(t, "deploy", "blue")
	f.repo.commit(t, "green", "v2", map[string]string{"VERSION": "v2\n"})
	if out := f.mustCLI(t, "deploy", "green"); !strings.Contains(out, "2 of 2 hosts run") {
		t.Errorf("deploy green through the leader:\n%s", out)
	}
	f.wantVersions(t, "green", "v2")

	f.server = follower
	f.mustCLI(t, "switch", "green")
	for _, s := range serves {
		if code, body, _ := get(t, "http://"+s.public+"/"); code != 200 || !strings.Contains(body, `"version":"v2"`) {
			t.Errorf("%s's router answers %d %s after the switch; want green's v2", s.apiAd, code, body)
		}
	}
	// The follower answers the status with each host's agent as the leader
	// knows it.
	if st := f.mustCLI(t, "status"); strings.Count(st, "agent ") < 4 {
		t.Errorf("status through the follower lacks the hosts' agents:\n%s", st)
	}
}

// trimHTTP returns endpoints without their http:// scheme.
func trimHTTP(eps []string) []string {
	out := make([]string, len(eps))
	for i, ep := range eps {
		out[i] = strings.TrimPrefix(ep, "http://")
	}
	return out
}
