package sqlite

import (
	"crypto/sha256"
	"path/filepath"
	"testing"
	"time"

	"github.com/bluegreen/bluegreen"
)

// TestMigrateKeepsTokens opens a file made by a bluegreen with schema 2
// (tokens without hosts): its tokens keep working, without a host, and agent
// tokens can be added.
func TestMigrateKeepsTokens(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.db")
	db := rawDB(t, path)
	for _, m := range migrations[:2] {
		if _, err := db.Exec(m); err != nil {
			t.Fatal(err)
		}
	}
	hash := sha256.Sum256([]byte("old"))
	if _, err := db.Exec(`INSERT INTO tokens (name, role, hash, created_by, created_at) VALUES ('ci', 'deployer', ?, 'admin', '2026-11-25T10:00:00.000000000Z');
		PRAGMA user_version = 2`, hash[:]); err != nil {
		t.Fatal(err)
	}
	db.Close()

	s := openStore(t, path)
	got, err := s.LookupToken(t.Context(), hash)
	want := bluegreen.Token{Name: "ci", Role: bluegreen.RoleDeployer, By: "admin", At: time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)}
	if err != nil || got != want {
		t.Fatalf("the old token after migrating: %+v, %v; want %+v", got, err, want)
	}
	agent := bluegreen.Token{Name: "app-3", Role: bluegreen.RoleAgent, Host: "app-3", By: "admin", At: want.At}
	if err := s.CreateToken(t.Context(), agent, sha256.Sum256([]byte("agent"))); err != nil {
		t.Fatal(err)
	}
	if got, err := s.LookupToken(t.Context(), sha256.Sum256([]byte("agent"))); err != nil || got != agent {
		t.Fatalf("agent token: %+v, %v; want %+v", got, err, agent)
	}
}
