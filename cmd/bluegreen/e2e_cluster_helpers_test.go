package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bluegreen/bluegreen"
	"github.com/bluegreen/bluegreen/api"
	"github.com/bluegreen/bluegreen/internal/testenv"
)

// clusterTTL is the serves' lease in the cluster tests: etcd's shortest
// with the test cluster's heartbeat is about a second; 2s keeps a dead
// leader's replacement quick without flapping on a loaded machine.
const clusterTTL = 2 * time.Second

// startCluster runs n serves, edge-1 to edge-n, each in its own directory,
// on the etcd at eps (client URLs or host:port) under prefix, with blue and
// green as the colors' upstreams and extra added to each config (below
// the cluster section). It returns once every one serves and all of them
// are listed as members, with edge-1 leading: it starts first.
func startCluster(t *testing.T, n int, eps []string, prefix, blue, green, extra string) []*server {
	t.Helper()
	if extra != "" && !strings.HasSuffix(extra, "\n") {
		extra += "\n"
	}
	hosts := make([]string, len(eps))
	for i, ep := range eps {
		hosts[i] = strings.TrimPrefix(ep, "http://")
	}
	var serves []*server
	for i := 1; i <= n; i++ {
		dir := t.TempDir()
		body := fmt.Sprintf("state: etcd://%s/%s\ndata_dir: local\ncluster: {id: edge-%d, ttl: %s}\n%s",
			strings.Join(hosts, ","), prefix, i, clusterTTL, extra)
		path := writeConfig(t, dir, blue, green, "")
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(strings.Replace(string(b), "state: state\n", body, 1)), 0o644); err != nil {
			t.Fatal(err)
		}
		s := startServe(t, filepath.Join(dir, "bluegreen.yaml"))
		serves = append(serves, s)
		if i == 1 {
			waitLeader(t, serves, "edge-1")
		}
	}
	testenv.WaitFor(t, 10*time.Second, fmt.Sprintf("%d instances listed", n), func() bool {
		return len(instances(t, serves[0])) == n
	})
	return serves
}

// instances returns the instances s lists in its status (none when the
// call fails).
func instances(t *testing.T, s *server) []bluegreen.Instance {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	st, err := api.NewClient(s.apiAd, s.token, "e2e-tester").Status(ctx)
	if err != nil {
		return nil
	}
	return st.Instances
}

// waitLeader waits until some serve of serves lists want as the leader
// (any leader when want is ""), and returns the leader's ID.
func waitLeader(t *testing.T, serves []*server, want string) string {
	t.Helper()
	return waitLeaderExcept(t, serves, want, "")
}

// waitNewLeader waits until some serve of serves lists a leader other than
// dead (a killed leader's record says leader until its lease expires), and
// returns its ID.
func waitNewLeader(t *testing.T, serves []*server, dead string) string {
	t.Helper()
	return waitLeaderExcept(t, serves, "", dead)
}

// waitLeaderExcept is waitLeader ignoring a leader named except.
func waitLeaderExcept(t *testing.T, serves []*server, want, except string) string {
	t.Helper()
	var leader string
	what := "a leader " + want
	if except != "" {
		what = "a leader other than " + except
	}
	testenv.WaitFor(t, 15*time.Second, what, func() bool {
		for _, s := range serves {
			for _, in := range instances(t, s) {
				if in.Role == bluegreen.RoleLeader && (want == "" || in.ID == want) && in.ID != except {
					leader = in.ID
					return true
				}
			}
		}
		return false
	})
	return leader
}
