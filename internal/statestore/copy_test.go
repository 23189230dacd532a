package statestore

import (
	"crypto/sha256"
	"errors"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/bluegreen/bluegreen"
	"github.com/bluegreen/bluegreen/config"
	"github.com/bluegreen/bluegreen/internal/storetest"
)

// open opens the store at loc, closed when the test ends.
func open(t *testing.T, loc Location) Store {
	t.Helper()
	s, err := Open(t.Context(), loc)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// contents is everything Copy must carry over.
type contents struct {
	State  bluegreen.State
	Events []bluegreen.Event
	Tokens []bluegreen.Token
	Hashes map[string][32]byte
}

func read(t *testing.T, s Store) contents {
	t.Helper()
	var c contents
	var err error
	if c.State, err = s.Load(t.Context()); err != nil {
		t.Fatal(err)
	}
	if c.Events, err = allEvents(t.Context(), s); err != nil {
		t.Fatal(err)
	}
	if c.Tokens, err = s.Tokens(t.Context()); err != nil {
		t.Fatal(err)
	}
	if c.Hashes, err = s.TokenHashes(t.Context()); err != nil {
		t.Fatal(err)
	}
	return c
}

// TestCopyRoundTrip copies SQLite → etcd → SQLite and compares every field
// of the state, every event and every token (with its hash) at each step.
func TestCopyRoundTrip(t *testing.T) {
	ep := startEtcd(t)
	ctx := t.Context()
	src := open(t, Location{Dir: t.TempDir()})

	st := storetest.SampleState(0)
	for range 7 { // revision 7
		var err error
		if st, err = src.Commit(ctx, st, bluegreen.Event{Actor: "ada", Action: bluegreen.ActionSwitch,
			Outcome: bluegreen.OutcomeOK, Details: map[string]any{"n": 1.5, "s": "x"}}); err != nil {
			t.Fatal(err)
		}
	}
	storetest.SeedHistory(t, src, 250, 40)
	at := time.Date(2026, 12, 1, 10, 0, 0, 123456789, time.UTC)
	for i, name := range []string{"ci", "ops", "old"} {
		tok := bluegreen.Token{Name: name, Role: bluegreen.Role("deployer"), By: "ada", At: at.Add(time.Duration(i) * time.Second)}
		if name == "ops" { // an agent token: its host is copied too
			tok.Role, tok.Host = bluegreen.RoleAgent, "app-3"
		}
		if err := src.CreateToken(ctx, tok, sha256.Sum256([]byte("secret-"+name))); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := src.RevokeToken(ctx, "old", at.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	want := read(t, src)
	if !slices.ContainsFunc(want.Tokens, func(t bluegreen.Token) bool { return t.Host == "app-3" }) {
		t.Fatalf("the source lost the agent token's host: %+v", want.Tokens)
	}

	e, err := config.ParseEtcdURL("etcd://" + ep + "/copytest")
	if err != nil {
		t.Fatal(err)
	}
	mid := open(t, Location{Etcd: e})
	var calls int
	r, err := Copy(ctx, src, mid, func(string, int, int) { calls++ })
	if err != nil {
		t.Fatal(err)
	}
	if r.Revision != 7 || r.Events != len(want.Events) || r.Tokens != 3 || calls == 0 {
		t.Errorf("report %+v after %d progress calls; want revision 7, %d events, 3 tokens", r, calls, len(want.Events))
	}
	if got := read(t, mid); !reflect.DeepEqual(got, want) {
		t.Fatalf("etcd after the copy differs from the SQLite source:\n got %+v\nwant %+v", got, want)
	}

	dst := open(t, Location{Dir: t.TempDir()})
	if _, err := Copy(ctx, mid, dst, nil); err != nil {
		t.Fatal(err)
	}
	if got := read(t, dst); !reflect.DeepEqual(got, want) {
		t.Fatalf("SQLite after the round trip differs from the source:\n got %+v\nwant %+v", got, want)
	}
	if tok, err := dst.LookupToken(ctx, sha256.Sum256([]byte("secret-ci"))); err != nil || tok.Name != "ci" {
		t.Errorf("the copied token does not answer to its secret: %+v, %v", tok, err)
	}

	_, err = Copy(ctx, src, dst, nil)
	if !errors.Is(err, ErrNotEmpty) {
		t.Fatalf("copy onto a non-empty target: err = %v, want ErrNotEmpty", err)
	}
	t.Logf("refusal: %v", err)
}
