package sqlite

import (
	"context"
	"crypto/sha256"
	"path/filepath"
	"testing"
	"time"

	"github.com/bluegreen/bluegreen"
)

func TestTokensCreateLookupRevoke(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "state.db")
	s := openStore(t, path)
	at := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
	ci := bluegreen.Token{Name: "github-actions", Role: bluegreen.RoleDeployer, By: "admin", At: at}
	secret := sha256.Sum256([]byte("s3cret"))
	if err := s.CreateToken(ctx, ci, secret); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateToken(ctx, bluegreen.Token{Name: "github-actions", Role: bluegreen.RoleViewer, At: at}, sha256.Sum256([]byte("x"))); bluegreen.ErrorCode(err) != bluegreen.ECONFLICT {
		t.Errorf("second token with the same name: %v, want conflict", err)
	}
	got, err := s.LookupToken(ctx, secret)
	if err != nil || got != ci {
		t.Fatalf("lookup: %+v, %v; want %+v", got, err, ci)
	}
	if _, err := s.LookupToken(ctx, sha256.Sum256([]byte("wrong"))); bluegreen.ErrorCode(err) != bluegreen.ENOTFOUND {
		t.Errorf("lookup of an unknown secret: %v, want not found", err)
	}

	// Kept across a reopen (a restart), revoked for good.
	s.Close()
	s = openStore(t, path)
	if _, err := s.LookupToken(ctx, secret); err != nil {
		t.Fatalf("after reopening: %v", err)
	}
	rev, err := s.RevokeToken(ctx, "github-actions", at.Add(time.Hour))
	if err != nil || !rev.Revoked.Equal(at.Add(time.Hour)) {
		t.Fatalf("revoke: %+v, %v", rev, err)
	}
	if _, err := s.LookupToken(ctx, secret); bluegreen.ErrorCode(err) != bluegreen.ENOTFOUND {
		t.Errorf("a revoked token still works: %v", err)
	}
	if _, err := s.RevokeToken(ctx, "github-actions", at); bluegreen.ErrorCode(err) != bluegreen.ECONFLICT {
		t.Errorf("revoking twice: %v, want conflict", err)
	}
	if _, err := s.RevokeToken(ctx, "nobody", at); bluegreen.ErrorCode(err) != bluegreen.ENOTFOUND {
		t.Errorf("revoking an unknown token: %v, want not found", err)
	}
	all, err := s.Tokens(ctx)
	if err != nil || len(all) != 1 || all[0].Revoked.IsZero() {
		t.Errorf("tokens: %+v, %v", all, err)
	}
}

func TestHistoryFiltersByOutcomeAndTime(t *testing.T) {
	ctx := context.Background()
	s := openStore(t, "")
	t0 := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
	evs := []bluegreen.Event{
		{Time: t0, Actor: "a", Action: bluegreen.ActionSwitch, Color: bluegreen.Green, Outcome: bluegreen.OutcomeOK, Message: "1"},
		{Time: t0.Add(time.Minute), Actor: "a", Action: bluegreen.ActionSwitch, Color: bluegreen.Blue, Outcome: bluegreen.OutcomeRefused, Message: "2"},
		{Time: t0.Add(2 * time.Minute), Actor: "b", Action: bluegreen.ActionDeploy, Color: bluegreen.Blue, Outcome: bluegreen.OutcomeFailed, Message: "3"},
	}
	if err := s.Append(ctx, evs...); err != nil {
		t.Fatal(err)
	}
	msgs := func(f bluegreen.HistoryFilter) string {
		got, err := s.History(ctx, f)
		if err != nil {
			t.Fatal(err)
		}
		out := ""
		for _, e := range got {
			out += e.Message
		}
		return out
	}
	for _, c := range []struct {
		f    bluegreen.HistoryFilter
		want string
	}{
		{bluegreen.HistoryFilter{Outcome: bluegreen.OutcomeRefused}, "2"},
		{bluegreen.HistoryFilter{Since: t0.Add(time.Minute)}, "32"},
		{bluegreen.HistoryFilter{Until: t0.Add(time.Minute)}, "1"},
		{bluegreen.HistoryFilter{Since: t0.Add(30 * time.Second), Until: t0.Add(90 * time.Second)}, "2"},
		{bluegreen.HistoryFilter{Action: bluegreen.ActionSwitch, Outcome: bluegreen.OutcomeOK}, "1"},
	} {
		if got := msgs(c.f); got != c.want {
			t.Errorf("%+v: got events %q, want %q", c.f, got, c.want)
		}
	}
}
