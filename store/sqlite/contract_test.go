package sqlite

import (
	"path/filepath"
	"testing"

	"github.com/bluegreen/bluegreen/internal/storetest"
)

// TestContract runs the Store contract suite, shared with store/etcd, on a
// new file per test.
func TestContract(t *testing.T) {
	storetest.Run(t, func(t *testing.T) func() storetest.Store {
		path := filepath.Join(t.TempDir(), "state.db")
		return func() storetest.Store { return openStore(t, path) }
	}, storetest.Options{ErrClosed: ErrClosed})
}
