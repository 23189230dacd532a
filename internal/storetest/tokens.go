package storetest

import (
	"crypto/sha256"
	"testing"
	"time"

	"github.com/bluegreen/bluegreen"
)

func testTokens(t *testing.T, open func() Store, _ Options) {
	ctx := t.Context()
	s := open()
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
	earlier := bluegreen.Token{Name: "ops", Role: bluegreen.RoleAdmin, By: "root", At: at.Add(-time.Hour)}
	if err := s.CreateToken(ctx, earlier, sha256.Sum256([]byte("ops"))); err != nil {
		t.Fatal(err)
	}
	// An agent token keeps its host.
	agent := bluegreen.Token{Name: "agent-app-3", Role: bluegreen.RoleAgent, Host: "app-3", By: "root", At: at.Add(time.Minute)}
	agentSecret := sha256.Sum256([]byte("agent"))
	if err := s.CreateToken(ctx, agent, agentSecret); err != nil {
		t.Fatal(err)
	}

	// Kept across a reopen (a restart), revoked for good.
	s.Close()
	s = open()
	if _, err := s.LookupToken(ctx, secret); err != nil {
		t.Fatalf("after reopening: %v", err)
	}
	if got, err := s.LookupToken(ctx, agentSecret); err != nil || got != agent {
		t.Fatalf("agent token after reopening: %+v, %v; want %+v", got, err, agent)
	}
	rev, err := s.RevokeToken(ctx, "github-actions", at.Add(time.Hour))
	if err != nil || !rev.Revoked.Equal(at.Add(time.Hour)) || rev.Name != ci.Name || rev.Role != ci.Role {
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
	revoked := ci
	revoked.Revoked = at.Add(time.Hour)
	revokedAgent, err := s.RevokeToken(ctx, agent.Name, at.Add(2*time.Hour))
	if err != nil || revokedAgent.Host != agent.Host {
		t.Fatalf("revoking the agent token: %+v, %v; want host %q kept", revokedAgent, err, agent.Host)
	}
	if _, err := s.LookupToken(ctx, agentSecret); bluegreen.ErrorCode(err) != bluegreen.ENOTFOUND {
		t.Errorf("a revoked agent token still works: %v", err)
	}
	all, err := s.Tokens(ctx)
	if err != nil {
		t.Fatal(err)
	}
	assertEqual(t, "tokens, oldest first", all, []bluegreen.Token{earlier, revoked, revokedAgent})
}
