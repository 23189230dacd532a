// Package cluster is what several bluegreen serve instances on one etcd
// share beyond the Store: who is alive (membership under a lease), who
// leads (an etcd election), which live color each instance has taken
// (acknowledgements of a revision), and the router figures of every
// instance, summed for the post-switch watch.
//
// Everything lives under one key prefix (Options.Prefix), beside the
// Store's keys:
//
//	<prefix>cluster/members/<id>   an instance's Member record (JSON), under its lease
//	<prefix>cluster/figures/<id>   its per-color Figures (JSON), under its lease
//	<prefix>cluster/election/...   the election's candidates (concurrency.Election)
//	<prefix>cluster/admins/<id>    the hash of its admin token, under its lease
//
// An instance's keys live as long as its lease: Close revokes it at once;
// an instance that dies (kill -9, a partition) disappears when the lease
// expires, within Options.TTL. Nothing here starts a goroutine of its own
// except the client library's lease keep-alive, which Close ends.
package cluster

import (
	"context"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"path"
	"strings"
	"sync"
	"time"

	"github.com/bluegreen/bluegreen"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/client/v3/concurrency"
)

// ErrClosed is returned by an Instance's methods after Close.
var ErrClosed = errors.New("cluster: instance closed")

// DefaultTTL is the lease TTL when Options.TTL is zero.
const DefaultTTL = 10 * time.Second

// Role is an instance's part in the cluster.
type Role string

// The roles: one leader (the controller) at a time, the others follow.
const (
	Leader   Role = "leader"
	Follower Role = "follower"
)

// Member is what an instance publishes about itself.
type Member struct {
	ID      string `json:"id"`
	Address string `json:"address"`
	Role    Role   `json:"role"`
	// Color is the live color the instance serves ("" before its first
	// Ack), Revision the state revision it has acknowledged.
	Color    bluegreen.Color `json:"color,omitempty"`
	Revision int64           `json:"revision"`
	// Since is when the instance began serving Color (by its clock).
	Since time.Time `json:"since,omitzero"`
	// Heartbeat is when the instance last rewrote its record.
	Heartbeat time.Time `json:"heartbeat"`
}

// Options configure Join.
type Options struct {
	// Client is the etcd client to use; the caller owns it (Close does not
	// close it). Closing it without Close is how a test plays a crash: the
	// lease is no longer kept alive and expires after TTL.
	Client *clientv3.Client
	// Prefix is the key prefix, the Store's; "/" is added when missing.
	Prefix string
	// ID names the instance, unique among the live ones; Address is where
	// it serves its API. ID must not be empty nor contain "/".
	ID      string
	Address string
	// TTL is the lease's time to live, rounded up to whole seconds (etcd's
	// unit): how long a dead instance stays listed, and at most how long a
	// dead leader keeps its leadership. DefaultTTL when zero.
	TTL time.Duration
	// Now gives the time for heartbeats; time.Now when nil.
	Now func() time.Time
	// Replace registers the instance even when a live one has its ID: a
	// new serve process taking over from the old one on the same sockets
	// (a hand-over) takes over its record. The old process's lease then
	// no longer holds the record, so closing it leaves the record alone.
	Replace bool
}

// Instance is one serve instance's membership. Its methods are safe for
// concurrent use.
type Instance struct {
	id      string // never changes
	cli     *clientv3.Client
	prefix  string
	now     func() time.Time
	ttl     int // seconds
	address string

	writeMu  sync.Mutex // orders the writes of the instance's record (register, update)
	mu       sync.Mutex // guards session, election, abandoned, self and closed
	session  *concurrency.Session
	election *concurrency.Election
	// abandoned is closed when the campaign call Campaign left behind (its
	// ctx ended first) has returned; nil when there is none.
	abandoned chan struct{}
	self      Member
	closed    bool
}

// Join registers the instance under a new lease of o.TTL and returns it as
// a follower. It fails with an ECONFLICT error when a live instance
// already has o.ID, EINVALID when o is incomplete, or the client's error
// when etcd cannot be reached within ctx. The lease is kept alive until
// Close (not until ctx ends).
func Join(ctx context.Context, o Options) (*Instance, error) {
	if o.Client == nil || o.ID == "" || strings.Contains(o.ID, "/") {
		return nil, bluegreen.Errorf(bluegreen.EINVALID, "cluster: joining needs a client and an ID without '/' (ID %q)", o.ID)
	}
	ttl := o.TTL
	if ttl <= 0 {
		ttl = DefaultTTL
	}
	prefix := o.Prefix
	if !strings.HasSuffix(prefix, "/") {
		prefix += "/"
	}
	now := o.Now
	if now == nil {
		now = time.Now
	}
	in := &Instance{id: o.ID, cli: o.Client, prefix: prefix + "cluster/", now: now,
		ttl: int(math.Ceil(ttl.Seconds())), address: o.Address}
	if err := in.register(ctx, o.Replace); err != nil {
		return nil, err
	}
	return in, nil
}

// register starts a session on a new lease and writes the instance's
// record under it as a follower: only if no live instance has the ID,
// unless replace.
func (in *Instance) register(ctx context.Context, replace bool) error {
	in.writeMu.Lock()
	defer in.writeMu.Unlock()
	// The session's context bounds its keep-alive, not the call: ctx only
	// bounds the lease grant (through the client's call).
	grant, err := in.cli.Grant(ctx, int64(in.ttl))
	if err != nil {
		return fmt.Errorf("cluster: granting the lease: %w", err)
	}
	s, err := concurrency.NewSession(in.cli, concurrency.WithLease(grant.ID), concurrency.WithTTL(in.ttl),
		concurrency.WithContext(context.WithoutCancel(ctx)))
	if err != nil {
		in.cli.Revoke(context.WithoutCancel(ctx), grant.ID)
		return fmt.Errorf("cluster: starting the session: %w", err)
	}
	self := Member{ID: in.id, Address: in.address, Role: Follower, Heartbeat: in.now().UTC()}
	in.mu.Lock()
	if old := in.self; old.ID != "" {
		// A renewal keeps what the instance serves.
		self.Color, self.Revision, self.Since = old.Color, old.Revision, old.Since
	}
	in.mu.Unlock()
	data, _ := json.Marshal(self)
	key := in.memberKey(in.id)
	txn := in.cli.Txn(ctx)
	if !replace {
		txn = txn.If(clientv3.Compare(clientv3.CreateRevision(key), "=", 0))
	}
	resp, err := txn.Then(clientv3.OpPut(key, string(data), clientv3.WithLease(s.Lease()))).Commit()
	if err != nil || !resp.Succeeded {
		s.Close()
		if err != nil {
			return fmt.Errorf("cluster: registering %s: %w", in.id, err)
		}
		return bluegreen.Errorf(bluegreen.ECONFLICT, "cluster: a live instance is already registered as %q", in.id)
	}
	in.mu.Lock()
	in.session, in.election, in.self = s, concurrency.NewElection(s, in.prefix+"election/"), self
	in.mu.Unlock()
	return nil
}

// Renew registers the instance again on a new lease after its lease was
// lost (Done is closed), revoking the old one if etcd still holds it: as a
// follower, with the color and revision it
// last acknowledged. Its figures must be published again. It fails as
// Join does (ECONFLICT when another live instance took the ID meanwhile),
// and with ErrClosed after Close.
func (in *Instance) Renew(ctx context.Context) error {
	if err := in.check(); err != nil {
		return err
	}
	// The session ended on this side, but etcd may still hold the lease
	// (a new etcd leader extends the leases it finds): revoke it, so that
	// its record and candidacy go now rather than a TTL later.
	if _, err := in.cli.Revoke(ctx, in.lease()); err != nil && !errors.Is(err, rpctypes.ErrLeaseNotFound) {
		return fmt.Errorf("cluster: revoking the lost lease of %s: %w", in.id, err)
	}
	return in.register(ctx, false)
}

// lease returns the current session's lease.
func (in *Instance) lease() clientv3.LeaseID {
	in.mu.Lock()
	defer in.mu.Unlock()
	return in.session.Lease()
}

// elect returns the current session's election.
func (in *Instance) elect() *concurrency.Election {
	in.mu.Lock()
	defer in.mu.Unlock()
	return in.election
}

// ID returns the instance's ID.
func (in *Instance) ID() string { return in.id }

// Self returns the instance's record as it last published it.
func (in *Instance) Self() Member {
	in.mu.Lock()
	defer in.mu.Unlock()
	return in.self
}

// Done is closed when the instance's lease is lost (expired because etcd
// could not be reached for longer than the TTL, or revoked): the instance
// is then no longer a member nor the leader, and must Join again.
// After Renew, Done returns the new lease's channel.
func (in *Instance) Done() <-chan struct{} {
	in.mu.Lock()
	defer in.mu.Unlock()
	return in.session.Done()
}

// Heartbeat rewrites the instance's record with the current time, so
// Members shows it is alive and since when it last reached etcd. The
// caller chooses the interval; the lease is kept alive regardless.
func (in *Instance) Heartbeat(ctx context.Context) error {
	return in.update(ctx, func(*Member) {})
}

// update changes the instance's record with change, stamps the heartbeat,
// and writes it under the lease.
func (in *Instance) update(ctx context.Context, change func(*Member)) error {
	// writeMu orders the writes of the record; mu is not held across the
	// call to etcd, so that Done, Leader and the others never wait for it.
	in.writeMu.Lock()
	defer in.writeMu.Unlock()
	in.mu.Lock()
	if in.closed {
		in.mu.Unlock()
		return ErrClosed
	}
	next, lease := in.self, in.session.Lease()
	in.mu.Unlock()
	change(&next)
	next.Heartbeat = in.now().UTC()
	data, _ := json.Marshal(next)
	if _, err := in.cli.Put(ctx, in.memberKey(next.ID), string(data), clientv3.WithLease(lease)); err != nil {
		return fmt.Errorf("cluster: updating %s's record: %w", next.ID, err)
	}
	in.mu.Lock()
	in.self = next
	in.mu.Unlock()
	return nil
}

// Close resigns the leadership if the instance holds it and revokes its
// lease, so its keys disappear at once. It waits at most until ctx ends;
// a lease it could not revoke expires after the TTL. Closing twice
// returns nil.
func (in *Instance) Close(ctx context.Context) error {
	in.mu.Lock()
	if in.closed {
		in.mu.Unlock()
		return nil
	}
	in.closed = true
	election, session := in.election, in.session
	in.mu.Unlock()
	rerr := election.Resign(ctx)
	session.Orphan()
	_, err := in.cli.Revoke(ctx, session.Lease())
	if err != nil {
		return fmt.Errorf("cluster: revoking the lease of %s: %w", in.id, err)
	}
	if rerr != nil {
		return fmt.Errorf("cluster: resigning %s: %w", in.id, rerr)
	}
	return nil
}

// memberKey is the key of member id's record.
func (in *Instance) memberKey(id string) string { return in.prefix + "members/" + id }

// Members returns the live instances' records, sorted by ID (etcd's key
// order). A dead instance is listed until its lease expires.
func (in *Instance) Members(ctx context.Context) ([]Member, error) {
	resp, err := in.cli.Get(ctx, in.prefix+"members/", clientv3.WithPrefix())
	if err != nil {
		return nil, fmt.Errorf("cluster: listing members: %w", err)
	}
	ms := make([]Member, 0, len(resp.Kvs))
	for _, kv := range resp.Kvs {
		var m Member
		if err := json.Unmarshal(kv.Value, &m); err != nil {
			return nil, fmt.Errorf("cluster: member record %s: %w", kv.Key, err)
		}
		ms = append(ms, m)
	}
	return ms, nil
}

// ShareAdminToken records the SHA-256 hash of the instance's admin token
// (its token file's) where every instance can find it (AdminToken), so that
// a client holding one instance's admin token may call any of them, and a
// call a follower forwards to the leader is accepted there. The record is
// under the instance's lease: a stopped or dead instance's token stops
// working on the others when its lease ends. Share it again after Renew.
func (in *Instance) ShareAdminToken(ctx context.Context, hash [32]byte) error {
	if err := in.check(); err != nil {
		return err
	}
	if _, err := in.cli.Put(ctx, in.prefix+"admins/"+in.id, hex.EncodeToString(hash[:]), clientv3.WithLease(in.lease())); err != nil {
		return fmt.Errorf("cluster: sharing %s's admin token hash: %w", in.id, err)
	}
	return nil
}

// AdminToken returns the ID of the instance whose shared admin token has
// the SHA-256 hash, or "" when none has. The comparison takes the same time
// whatever the hash.
func (in *Instance) AdminToken(ctx context.Context, hash [32]byte) (string, error) {
	resp, err := in.cli.Get(ctx, in.prefix+"admins/", clientv3.WithPrefix())
	if err != nil {
		return "", fmt.Errorf("cluster: reading the shared admin token hashes: %w", err)
	}
	want := hex.EncodeToString(hash[:])
	found := ""
	for _, kv := range resp.Kvs {
		if subtle.ConstantTimeCompare(kv.Value, []byte(want)) == 1 {
			found = path.Base(string(kv.Key))
		}
	}
	return found, nil
}
