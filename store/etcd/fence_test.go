package etcd

import (
	"errors"
	"testing"

	"github.com/bluegreen/bluegreen"
	"github.com/bluegreen/bluegreen/internal/etcdtest"
)

// TestFencedCommit: a commit under a fence is stored while the fence key
// lives, refused (ErrFenced, nothing stored) once it is gone or made anew,
// and commits without a fence are not affected.
func TestFencedCommit(t *testing.T) {
	s := openStore(t, etcdtest.Endpoints(etcdtest.Start(t, 1)), "/fence/")
	const key = "/fence/cluster/election/leader"
	put, err := s.cli.Put(t.Context(), key, "edge-1")
	if err != nil {
		t.Fatal(err)
	}
	rev := put.Header.Revision
	fenced := WithFence(t.Context(), func() (string, int64, bool) { return key, rev, true })
	if _, err := commitOne(fenced, s, "while leading"); err != nil {
		t.Fatalf("a commit under a living fence: %v", err)
	}
	if _, err := s.cli.Delete(t.Context(), key); err != nil {
		t.Fatal(err)
	}
	before, err := s.Load(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	_, err = commitOne(fenced, s, "after the leadership ended")
	if !errors.Is(err, ErrFenced) || bluegreen.ErrorCode(err) != bluegreen.ECONFLICT {
		t.Fatalf("a commit under a fence that is gone: %v, want ErrFenced", err)
	}
	if after, _ := s.Load(t.Context()); after.Revision != before.Revision {
		t.Errorf("the refused commit stored revision %d (was %d)", after.Revision, before.Revision)
	}
	// The key made again (a new leader on the same key) is another fence.
	if _, err := s.cli.Put(t.Context(), key, "edge-2"); err != nil {
		t.Fatal(err)
	}
	if _, err := commitOne(fenced, s, "under the old leadership"); !errors.Is(err, ErrFenced) {
		t.Errorf("a commit under the old fence with the key made anew: %v, want ErrFenced", err)
	}
	if _, err := commitOne(t.Context(), s, "without a fence"); err != nil {
		t.Errorf("a commit without a fence: %v", err)
	}
	// A fence that is there but names no key fails; no fence now does not.
	empty := WithFence(t.Context(), func() (string, int64, bool) { return "", 0, true })
	if _, err := commitOne(empty, s, "under an empty fence"); !errors.Is(err, ErrFenced) {
		t.Errorf("a commit under an empty fence: %v, want ErrFenced", err)
	}
	none := WithFence(t.Context(), func() (string, int64, bool) { return "", 0, false })
	if _, err := commitOne(none, s, "with no fence now"); err != nil {
		t.Errorf("a commit whose fence says none now: %v", err)
	}
}
