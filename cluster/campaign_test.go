package cluster

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/bluegreen/bluegreen/internal/etcdtest"
	"github.com/bluegreen/bluegreen/internal/testenv"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// TestCampaignEndsWithItsContextWithoutEtcd: a campaign waiting behind the
// leader returns once its context ends, even with etcd unreachable (paused:
// calls hang as in a partition; the client library's own withdrawal would
// wait for etcd): a serve must stop promptly when etcd is gone.
func TestCampaignEndsWithItsContextWithoutEtcd(t *testing.T) {
	members := etcdtest.Start(t, 1)
	nodes := joinN(t, etcdtest.Endpoints(members), 2)
	if err := nodes[0].Campaign(t.Context()); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- nodes[1].Campaign(ctx) }()
	// Waiting behind a: its candidacy is written.
	testenv.WaitFor(t, 5*time.Second, "b's candidacy", func() bool {
		resp, err := nodes[1].cli.Get(t.Context(), "/t/cluster/election/", clientv3.WithPrefix(), clientv3.WithCountOnly())
		return err == nil && resp.Count == 2
	})
	members[0].Pause()
	defer members[0].Resume()
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("Campaign = %v, want context.Canceled", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Campaign did not return within 5s of its context ending with etcd gone")
	}
}
