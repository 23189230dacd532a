package sqlite

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/bluegreen/bluegreen"
)

func open(t *testing.T, path string) *Store {
	t.Helper()
	s, err := Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func fresh(live bluegreen.Color) bluegreen.State {
	return bluegreen.State{Live: live, Since: time.Date(2026, 11, 25, 10, 0, 0, 123456789, time.UTC),
		Colors: map[bluegreen.Color]bluegreen.ColorState{
			bluegreen.Blue:  {Upstreams: []string{"127.0.0.1:9001"}, Branch: "production"},
			bluegreen.Green: {Upstreams: []string{"127.0.0.1:9002"}, Branch: "green"},
		}}
}

func TestRoundTripAndReopen(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "sub", "state.db")
	s := open(t, path)
	st, err := s.Load(ctx)
	if err != nil || st.Revision != 0 || st.Live != "" {
		t.Fatalf("fresh Load: %+v %v", st, err)
	}
	when := time.Date(2026, 1, 2, 3, 4, 5, 6, time.FixedZone("X", 3600))
	ev := bluegreen.Event{Time: when, Actor: "alice", Action: bluegreen.ActionInit, Color: bluegreen.Blue,
		Outcome: bluegreen.OutcomeOK, Message: "created", Details: map[string]any{"n": 1.5, "s": "x"}}
	c, err := s.Commit(ctx, fresh(bluegreen.Blue), ev)
	if err != nil {
		t.Fatal(err)
	}
	if c.Revision != 1 {
		t.Fatalf("committed revision %d, want 1", c.Revision)
	}
	s.Close()
	if _, err := s.Load(ctx); err == nil {
		t.Fatal("Load after Close succeeded")
	}

	s2 := open(t, path)
	got, err := s2.Load(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := fresh(bluegreen.Blue)
	if got.Revision != 1 || got.Live != want.Live || !got.Since.Equal(want.Since) || got.Colors[bluegreen.Green].Upstreams[0] != "127.0.0.1:9002" {
		t.Fatalf("reloaded %+v", got)
	}
	evs, err := s2.History(ctx, bluegreen.HistoryFilter{})
	if err != nil || len(evs) != 1 {
		t.Fatalf("history %+v %v", evs, err)
	}
	e := evs[0]
	if e.ID != 1 || e.Revision != 1 || !e.Time.Equal(when) || e.Actor != "alice" || e.Details["n"] != 1.5 || e.Details["s"] != "x" {
		t.Fatalf("event round trip: %+v", e)
	}
	for _, suffix := range []string{"", "-wal"} {
		fi, err := os.Stat(path + suffix)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != 0o600 {
			t.Errorf("%s mode %v, want 0600", path+suffix, fi.Mode().Perm())
		}
	}
}

func TestCommitConflict(t *testing.T) {
	ctx := context.Background()
	s := open(t, filepath.Join(t.TempDir(), "state.db"))
	base, err := s.Commit(ctx, fresh(bluegreen.Blue))
	if err != nil {
		t.Fatal(err)
	}
	a, b := base.Clone(), base.Clone()
	a.Live, b.Live = bluegreen.Green, bluegreen.Blue
	if _, err := s.Commit(ctx, a, bluegreen.Event{Action: "switch", Message: "a"}); err != nil {
		t.Fatal(err)
	}
	_, err = s.Commit(ctx, b, bluegreen.Event{Action: "switch", Message: "b"})
	if !errors.Is(err, bluegreen.ErrConflict) || bluegreen.ErrorCode(err) != bluegreen.ECONFLICT {
		t.Fatalf("second commit from the same read: %v, want ErrConflict", err)
	}
	st, _ := s.Load(ctx)
	evs, _ := s.History(ctx, bluegreen.HistoryFilter{})
	if st.Revision != 2 || st.Live != bluegreen.Green || len(evs) != 1 || evs[0].Message != "a" {
		t.Fatalf("after the conflict: state %+v events %+v", st, evs)
	}
}

func TestConcurrentCommits(t *testing.T) {
	ctx := context.Background()
	s := open(t, filepath.Join(t.TempDir(), "state.db"))
	if _, err := s.Commit(ctx, fresh(bluegreen.Blue)); err != nil {
		t.Fatal(err)
	}
	const workers, each = 4, 10
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < each; i++ {
				for {
					st, err := s.Load(ctx)
					if err != nil {
						errs <- err
						return
					}
					st.Live = st.Live.Other()
					_, err = s.Commit(ctx, st, bluegreen.Event{Actor: fmt.Sprint(w), Action: "switch"})
					if errors.Is(err, bluegreen.ErrConflict) {
						continue
					}
					if err != nil {
						errs <- err
						return
					}
					break
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	st, _ := s.Load(ctx)
	evs, _ := s.History(ctx, bluegreen.HistoryFilter{Action: "switch", Limit: 1000})
	if st.Revision != 1+workers*each || len(evs) != workers*each {
		t.Fatalf("revision %d and %d events, want %d and %d", st.Revision, len(evs), 1+workers*each, workers*each)
	}
	seen := map[int64]bool{}
	for _, e := range evs {
		if seen[e.Revision] {
			t.Fatalf("two events claim revision %d", e.Revision)
		}
		seen[e.Revision] = true
	}
}

func TestHistoryFiltersAndPaging(t *testing.T) {
	ctx := context.Background()
	s := open(t, filepath.Join(t.TempDir(), "state.db"))
	var evs []bluegreen.Event
	for i := 0; i < 30; i++ {
		c := bluegreen.Colors[i%2]
		evs = append(evs, bluegreen.Event{Actor: []string{"alice", "bob", "ci"}[i%3], Action: []string{"switch", "health"}[i%2],
			Color: c, Outcome: "ok", Message: strconv.Itoa(i)})
	}
	if err := s.Append(ctx, evs...); err != nil {
		t.Fatal(err)
	}
	for i, e := range evs {
		if e.ID != int64(i+1) {
			t.Fatalf("event %d got ID %d", i, e.ID)
		}
	}
	got, _ := s.History(ctx, bluegreen.HistoryFilter{Color: bluegreen.Green, Actor: "bob"})
	for _, e := range got {
		if e.Color != bluegreen.Green || e.Actor != "bob" {
			t.Fatalf("filter leaked %+v", e)
		}
	}
	if len(got) != 5 { // i%2==1 and i%3==1: i = 1, 7, 13, 19, 25
		t.Fatalf("green+bob: %d events, want 5", len(got))
	}
	page1, _ := s.History(ctx, bluegreen.HistoryFilter{Limit: 10})
	page2, _ := s.History(ctx, bluegreen.HistoryFilter{Limit: 10, BeforeID: page1[9].ID})
	if page1[0].ID != 30 || page1[9].ID != 21 || page2[0].ID != 20 || page2[9].ID != 11 {
		t.Fatalf("paging: %d..%d then %d..%d", page1[0].ID, page1[9].ID, page2[0].ID, page2[9].ID)
	}
}

func TestHistoryIsAppendOnly(t *testing.T) {
	ctx := context.Background()
	s := open(t, filepath.Join(t.TempDir(), "state.db"))
	if err := s.Append(ctx, bluegreen.Event{Actor: "a", Action: "switch", Message: "original"}); err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{"UPDATE events SET message = 'edited'", "DELETE FROM events"} {
		if _, err := s.db.ExecContext(ctx, q); err == nil || !strings.Contains(err.Error(), "append-only") {
			t.Errorf("%s: %v, want the append-only trigger to abort it", q, err)
		}
	}
	evs, _ := s.History(ctx, bluegreen.HistoryFilter{})
	if len(evs) != 1 || evs[0].Message != "original" {
		t.Fatalf("history after the attempts: %+v", evs)
	}
}

// TestKill9LosesNothing re-executes the test binary as a child that commits
// in a loop and reports each commit on stdout; the parent SIGKILLs it and
// checks every reported commit survived.
func TestKill9LosesNothing(t *testing.T) {
	if path := os.Getenv("BLUEGREEN_STORE_CHILD"); path != "" {
		childCommits(path)
		return
	}
	path := filepath.Join(t.TempDir(), "state.db")
	cmd := exec.Command(os.Args[0], "-test.run=^TestKill9LosesNothing$")
	cmd.Env = append(os.Environ(), "BLUEGREEN_STORE_CHILD="+path)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(out)
	last := int64(0)
	for sc.Scan() && last < 25 {
		if rev, ok := strings.CutPrefix(sc.Text(), "committed "); ok {
			last, _ = strconv.ParseInt(rev, 10, 64)
		}
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	if last < 25 {
		t.Fatalf("child reported only up to revision %d", last)
	}
	s := open(t, path)
	st, err := s.Load(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if st.Revision < last {
		t.Fatalf("after kill -9: revision %d, but the child reported %d committed", st.Revision, last)
	}
	evs, _ := s.History(context.Background(), bluegreen.HistoryFilter{Limit: 10000})
	have := map[int64]bool{}
	for _, e := range evs {
		have[e.Revision] = true
	}
	for r := int64(1); r <= last; r++ {
		if !have[r] {
			t.Fatalf("the event of reported revision %d is lost", r)
		}
	}
}

func childCommits(path string) {
	ctx := context.Background()
	s, err := Open(ctx, path)
	if err != nil {
		fmt.Println("error", err)
		os.Exit(1)
	}
	st := fresh(bluegreen.Blue)
	for {
		st.Live = st.Live.Other()
		st, err = s.Commit(ctx, st, bluegreen.Event{Actor: "child", Action: "switch"})
		if err != nil {
			fmt.Println("error", err)
			os.Exit(1)
		}
		fmt.Printf("committed %d\n", st.Revision)
	}
}
