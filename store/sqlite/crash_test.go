package sqlite

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/bluegreen/bluegreen"
)

// crashChildEnv, when set, makes TestCrashDurability run as the child: it
// commits to the store at the path in the variable until it is killed.
const crashChildEnv = "BE_CHILD"

const (
	crashKillAfter  = 25     // reported commits the parent reads before SIGKILL
	crashMaxCommits = 100000 // the child gives up (and the test fails) after this many
	crashEvents     = 2      // events per commit
)

// TestCrashDurability SIGKILLs a process that is committing in a loop and
// checks that every commit it reported as returned survived, and that no
// commit survived in part. Half of the commits are CommitVisible, reported
// before their sync.
func TestCrashDurability(t *testing.T) {
	if path := os.Getenv(crashChildEnv); path != "" {
		crashChild(path)
		return
	}
	path := filepath.Join(t.TempDir(), "state.db")
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^TestCrashDurability$", "-test.count=1")
	cmd.Env = append(os.Environ(), crashChildEnv+"="+path)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}

	var reported []int64
	sc := bufio.NewScanner(stdout)
	for sc.Scan() { // until EOF: lines already in the pipe when it died count too
		k, ok := strings.CutPrefix(sc.Text(), "committed ")
		if !ok {
			continue // the testing package's own output
		}
		rev, err := strconv.ParseInt(k, 10, 64)
		if err != nil {
			t.Fatalf("child said %q", sc.Text())
		}
		reported = append(reported, rev)
		if len(reported) == crashKillAfter {
			if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
				t.Fatal(err)
			}
		}
	}
	err = cmd.Wait()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
		t.Fatalf("child did not die of SIGKILL: %v\nstderr:\n%s", err, stderr.String())
	}
	if len(reported) < crashKillAfter {
		t.Fatalf("child reported %d commits before dying, want at least %d", len(reported), crashKillAfter)
	}
	for i, rev := range reported {
		if rev != int64(i+1) {
			t.Fatalf("child reported revision %d as commit %d", rev, i+1)
		}
	}
	last := reported[len(reported)-1]

	s := openStore(t, path)
	var check string
	if err := s.db.QueryRowContext(t.Context(), "PRAGMA integrity_check").Scan(&check); err != nil || check != "ok" {
		t.Fatalf("integrity_check = %q, %v; want ok", check, err)
	}
	st, err := s.Load(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	// Every reported commit is there; at most the one in flight at the kill
	// may have made it too.
	if st.Revision < last || st.Revision > last+1 {
		t.Fatalf("revision after the crash = %d, child reported %d", st.Revision, last)
	}
	if got := st.Colors[bluegreen.Blue].Branch; got != fmt.Sprint("commit-", st.Revision) {
		t.Errorf("state at revision %d holds %q: state and revision disagree", st.Revision, got)
	}
	hist, err := s.History(t.Context(), bluegreen.HistoryFilter{Limit: MaxHistoryLimit})
	if err != nil {
		t.Fatal(err)
	}
	// A commit's events are all there or none is: exactly crashEvents per
	// committed revision, none for a revision that was not committed.
	perRev := map[int64]int{}
	for _, e := range hist {
		perRev[e.Revision]++
	}
	for rev := int64(1); rev <= st.Revision; rev++ {
		if perRev[rev] != crashEvents {
			t.Errorf("revision %d has %d events, want %d", rev, perRev[rev], crashEvents)
		}
	}
	if len(hist) != int(st.Revision)*crashEvents {
		t.Errorf("history has %d events for %d revisions, want %d each", len(hist), st.Revision, crashEvents)
	}
	t.Logf("child reported %d commits; %d survived", last, st.Revision)
}

// crashChild commits in a loop, reporting each returned Commit on stdout,
// until it is killed; it exits the process.
func crashChild(path string) {
	fail := func(err error) {
		fmt.Fprintln(os.Stderr, "crash child:", err)
		os.Exit(2)
	}
	ctx := context.Background()
	s, err := Open(ctx, path)
	if err != nil {
		fail(err)
	}
	st := bluegreen.State{Live: bluegreen.Blue, Colors: map[bluegreen.Color]bluegreen.ColorState{}}
	for range crashMaxCommits {
		next := st.Clone()
		next.Colors[bluegreen.Blue] = bluegreen.ColorState{Branch: fmt.Sprint("commit-", st.Revision+1)}
		evs := make([]bluegreen.Event, crashEvents)
		for i := range evs {
			evs[i] = bluegreen.Event{Actor: "child", Action: bluegreen.ActionConfig, Outcome: bluegreen.OutcomeOK,
				Message: fmt.Sprintf("commit %d event %d", st.Revision+1, i)}
		}
		// Every other commit is a CommitVisible, reported before its sync:
		// what it promises is that a killed process loses nothing of it.
		var sync func() error
		if st.Revision%2 == 0 {
			st, err = s.Commit(ctx, next, evs...)
		} else {
			st, sync, err = s.CommitVisible(ctx, next, evs...)
		}
		if err != nil {
			fail(err)
		}
		// Unbuffered: the line leaves the process before the next commit starts.
		if _, err := fmt.Fprintf(os.Stdout, "committed %d\n", st.Revision); err != nil {
			fail(err) // the parent is gone
		}
		if sync != nil {
			if err := sync(); err != nil {
				fail(err)
			}
		}
	}
	fail(fmt.Errorf("not killed after %d commits", crashMaxCommits))
}
