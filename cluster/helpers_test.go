package cluster

import (
	"context"
	"testing"
	"time"

	"github.com/bluegreen/bluegreen/internal/etcdtest"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
)

// testTTL is the lease TTL of the tests' instances: etcd's shortest with
// the test cluster's 50ms heartbeat is about 1s.
const testTTL = 2 * time.Second

// newClient returns an etcd client on eps, closed when the test ends
// (closing it twice is harmless).
func newClient(t *testing.T, eps []string) *clientv3.Client {
	t.Helper()
	cli, err := clientv3.New(clientv3.Config{Endpoints: eps, DialTimeout: 2 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cli.Close() })
	return cli
}

// node is one test instance with its own client, so that closing the
// client plays its crash: the lease is no longer kept alive.
type node struct {
	*Instance
	cli *clientv3.Client
}

// crash stops the node as kill -9 would: no resign, no revoke.
func (n node) crash() { n.cli.Close() }

// joinN joins n instances to the etcd at eps, named a, b,
// c..., each on its own client, under prefix "/t/". They are closed when
// the test ends.
func joinN(t *testing.T, eps []string, n int) []node {
	t.Helper()
	nodes := make([]node, n)
	for i := range nodes {
		cli := newClient(t, eps)
		in, err := Join(t.Context(), Options{Client: cli, Prefix: "/t", ID: string(rune('a' + i)), Address: "127.0.0.1:" + string(rune('0'+i)), TTL: testTTL})
		if err != nil {
			t.Fatalf("Join %c: %v", 'a'+i, err)
		}
		t.Cleanup(func() { closeSoon(in) })
		nodes[i] = node{in, cli}
	}
	return nodes
}

// ids returns the IDs of ms, in order.
func ids(ms []Member) []string {
	out := []string{}
	for _, m := range ms {
		out = append(out, m.ID)
	}
	return out
}

// oneMember starts a one-member etcd and returns its endpoints.
func oneMember(t *testing.T) []string {
	t.Helper()
	return etcdtest.Endpoints(etcdtest.Start(t, 1))
}

// closeSoon closes in, waiting at most a second (a crashed node's client
// is closed: its lease is left to expire).
func closeSoon(in *Instance) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	in.Close(ctx)
}
