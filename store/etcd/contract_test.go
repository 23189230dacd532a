package etcd

import (
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/bluegreen/bluegreen/internal/etcdtest"
	"github.com/bluegreen/bluegreen/internal/storetest"
)

// openStore opens a store on eps under prefix and closes it when the test
// ends.
func openStore(t *testing.T, eps []string, prefix string) *Store {
	t.Helper()
	s, err := Open(t.Context(), Options{Endpoints: eps, Prefix: prefix})
	if err != nil {
		t.Fatalf("Open(%v, %q): %v", eps, prefix, err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// TestContract runs the Store contract suite, shared with store/sqlite, on
// one etcd member, each test under its own key prefix.
func TestContract(t *testing.T) {
	eps := etcdtest.Endpoints(etcdtest.Start(t, 1))
	var n atomic.Int64
	storetest.Run(t, func(t *testing.T) func() storetest.Store {
		prefix := fmt.Sprintf("/test%d/", n.Add(1))
		return func() storetest.Store { return openStore(t, eps, prefix) }
	}, storetest.Options{ErrClosed: ErrClosed, MaxEventsPerWrite: 100})
}
