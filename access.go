package bluegreen

import (
	"context"
	"regexp"
	"time"
)

// Role is what an API token may do. Each role of the ladder may do what the
// ones before it may: viewer < deployer < admin. RoleAgent stands outside
// the ladder.
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
	// RoleAgent is the role of a host's agent: its token names one host
	// (Token.Host) and may call only the agent routes of that host. It
	// allows nothing the other roles need, and no other role allows what
	// it needs.
	RoleAgent Role = "agent"
)

var roleRank = map[Role]int{RoleViewer: 1, RoleDeployer: 2, RoleAdmin: 3}

// Valid reports whether r is one of the roles, RoleAgent included.
func (r Role) Valid() bool { return r == RoleAgent || roleRank[r] > 0 }

// Allows reports whether a token of role r may do what needs role need:
// along the ladder for viewer, deployer and admin; RoleAgent allows RoleAgent
// only, and only RoleAgent allows it.
func (r Role) Allows(need Role) bool {
	if r == RoleAgent || need == RoleAgent {
		return r == need
	}
	return r.Valid() && roleRank[r] >= roleRank[need]
}

// ParseRole returns the role named s, or an EINVALID error.
func ParseRole(s string) (Role, error) {
	if r := Role(s); r.Valid() {
		return r, nil
	}
	return "", Errorf(EINVALID, "unknown role %q: want viewer, deployer, admin or agent", s)
}

// hostLabel is a host's name: a DNS label in lower case, as config hosts.
var hostLabel = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$`)

// ValidHostName reports whether s can name a host: a DNS label of 1 to 63
// characters of a-z, 0-9 and '-', neither starting nor ending with '-'.
func ValidHostName(s string) bool { return hostLabel.MatchString(s) }

// CheckTokenHost checks that a token of role r may carry host: an agent
// token needs a valid host name, any other role none. It returns an
// EINVALID error saying which rule was broken, or nil.
func CheckTokenHost(r Role, host string) error {
	switch {
	case r == RoleAgent && host == "":
		return Errorf(EINVALID, "an agent token needs the host it acts for (--host)")
	case r == RoleAgent && !ValidHostName(host):
		return Errorf(EINVALID, "host %q: want a DNS label (1 to 63 of a-z, 0-9 and '-', not starting or ending with '-')", host)
	case r != RoleAgent && host != "":
		return Errorf(EINVALID, "host %q: only agent tokens name a host, not %s ones", host, r)
	}
	return nil
}

// Token describes an API token; its secret is never stored, only a hash.
type Token struct {
	// Name identifies the token in the history ("github-actions").
	Name string `json:"name"`
	Role Role   `json:"role"`
	// Host is the host an agent token acts for (a DNS label, as in config
	// hosts); set exactly when Role is RoleAgent (CheckTokenHost).
	Host string    `json:"host,omitempty"`
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
	// Host is the agent token's host; "" for the other roles.
	Host string `json:"host,omitempty"`
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

// HostInfo is what an agent learns about its own host (GET
// /v1/agent/{host}): the color whose hosts list it, where it serves, its
// last health probe and the color's current release.
type HostInfo struct {
	// Name is the host's name.
	Name string `json:"name"`
	// Color is the color that lists the host.
	Color Color `json:"color"`
	// Address is the host:port the router sends the color's traffic to.
	Address string `json:"address"`
	// Health is the host's last probe; its Checked is zero before the
	// first one.
	Health HostHealth `json:"health"`
	// Release is the color's current release, nil when unknown.
	Release *Release `json:"release,omitempty"`
	// Order is what a deployment in progress asks the host to run, nil
	// when none does (the agent keeps running what it runs).
	Order *HostOrder `json:"order,omitempty"`
}
