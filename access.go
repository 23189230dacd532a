package bluegreen

import (
	"context"
	"time"
)

// Role is what an API token may do. Each role may do what the ones before it
// may: viewer < deployer < admin.
type Role string

// The roles.
const (
	// RoleViewer reads: status, history, health, deployments, logs, metrics.
	RoleViewer Role = "viewer"
	// RoleDeployer also deploys, verifies, approves, switches, rolls back
	// and syncs.
	RoleDeployer Role = "deployer"
	// RoleAdmin also manages tokens and force-releases the lock.
	RoleAdmin Role = "admin"
)

var roleRank = map[Role]int{RoleViewer: 1, RoleDeployer: 2, RoleAdmin: 3}

// Valid reports whether r is one of the roles.
func (r Role) Valid() bool { return roleRank[r] > 0 }

// Allows reports whether a token of role r may do what needs role need.
func (r Role) Allows(need Role) bool { return r.Valid() && roleRank[r] >= roleRank[need] }

// ParseRole returns the role named s, or an EINVALID error.
func ParseRole(s string) (Role, error) {
	if r := Role(s); r.Valid() {
		return r, nil
	}
	return "", Errorf(EINVALID, "unknown role %q: want viewer, deployer or admin", s)
}

// Token describes an API token; its secret is never stored, only a hash.
type Token struct {
	// Name identifies the token in the history ("github-actions").
	Name string    `json:"name"`
	Role Role      `json:"role"`
	By   string    `json:"created_by"`
	At   time.Time `json:"created_at"`
	// Revoked is when it was revoked; zero while it is valid.
	Revoked time.Time `json:"revoked_at,omitzero"`
}

// TokenStore keeps API tokens by the SHA-256 of their secret.
type TokenStore interface {
	// CreateToken stores t with the hash of its secret. It fails with
	// ECONFLICT when a token named t.Name exists (revoked ones included:
	// names stay unique in the history).
	CreateToken(ctx context.Context, t Token, hash [32]byte) error
	// LookupToken returns the valid (not revoked) token whose secret has
	// hash, or ENOTFOUND.
	LookupToken(ctx context.Context, hash [32]byte) (Token, error)
	// Tokens returns every token, revoked ones included, oldest first.
	Tokens(ctx context.Context) ([]Token, error)
	// RevokeToken revokes the token named name at at and returns it;
	// ENOTFOUND when there is none, ECONFLICT when it is already revoked.
	RevokeToken(ctx context.Context, name string, at time.Time) (Token, error)
}

// Caller is who makes an API call: the token they used and what their CI
// says of the run. The API puts it into the request's context; events
// recorded on its behalf carry it.
type Caller struct {
	// Token is the token's name; Role its role.
	Token string `json:"token"`
	Role  Role   `json:"role"`
	// RunURL links to the CI run that made the call, when one did.
	RunURL string `json:"run_url,omitempty"`
}

type callerKey struct{}

// WithCaller returns ctx carrying c.
func WithCaller(ctx context.Context, c Caller) context.Context {
	return context.WithValue(ctx, callerKey{}, c)
}

// CallerFrom returns the caller ctx carries, if any.
func CallerFrom(ctx context.Context) (Caller, bool) {
	c, ok := ctx.Value(callerKey{}).(Caller)
	return c, ok
}
