package etcd

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/bluegreen/bluegreen"
	"github.com/bluegreen/bluegreen/internal/etcdtest"
	"github.com/bluegreen/bluegreen/internal/testenv"
)

// TestCommitWithItsAnswerLost: etcd stops answering (paused: the
// transaction sits in its socket) while a commit waits; the commit fails
// saying that it may still take effect (ErrOutcomeUnknown), and once etcd
// runs again the state and its event are there together or not at all.
// Before, the error read as if nothing had been stored.
func TestCommitWithItsAnswerLost(t *testing.T) {
	ms := etcdtest.Start(t, 1)
	s, err := Open(t.Context(), Options{Endpoints: etcdtest.Endpoints(ms), Prefix: "/lost/", RequestTimeout: 500 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	before, err := commitOne(t.Context(), s, "first")
	if err != nil {
		t.Fatal(err)
	}
	st := before.Clone()
	st.Live = bluegreen.Green
	beforeWrite = ms[0].Pause // after the snapshot read: the transaction is sent and not answered
	_, err = s.Commit(t.Context(), st, bluegreen.Event{Actor: "test", Action: bluegreen.ActionSwitch, Message: "the lost one"})
	beforeWrite = nil
	ms[0].Resume()
	if !errors.Is(err, bluegreen.ErrOutcomeUnknown) || bluegreen.ErrorCode(err) != bluegreen.EUNAVAILABLE ||
		!strings.Contains(bluegreen.ErrorMessage(err), "state store unreachable") ||
		!strings.Contains(bluegreen.ErrorMessage(err), "may still take effect when etcd answers again") {
		t.Fatalf("commit with etcd paused: %v (shown %q); want an unknown outcome, said so", err, bluegreen.ErrorMessage(err))
	}
	// Whether etcd applies it on resuming depends on whether it reads the
	// client's cancellation first: either way, the state and its event
	// come together.
	// The history first, the state after: the state never goes back, so a
	// stored event must find its state stored too.
	var evs []bluegreen.Event
	testenv.WaitFor(t, 10*time.Second, "etcd answering again", func() bool {
		evs, err = s.History(t.Context(), bluegreen.HistoryFilter{Limit: 1})
		return err == nil
	})
	got, err := s.Load(t.Context())
	if err != nil || len(evs) != 1 {
		t.Fatalf("history %+v, state %+v, %v", evs, got, err)
	}
	lost := evs[0].Message == "the lost one"
	switch {
	case lost && (got.Revision != before.Revision+1 || got.Live != bluegreen.Green || evs[0].Revision != got.Revision):
		t.Errorf("the lost commit's event is stored (%+v) but the state is revision %d live %s", evs[0], got.Revision, got.Live)
	case !lost && got.Revision != before.Revision && got.Revision != before.Revision+1:
		t.Errorf("state after the lost commit: revision %d; want %d or %d", got.Revision, before.Revision, before.Revision+1)
	}
	t.Logf("the lost commit took effect: %v", lost)
}
