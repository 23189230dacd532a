// Package etcd implements bluegreen.Store and bluegreen.TokenStore on an
// etcd cluster (go.etcd.io/etcd/client/v3), for teams that run bluegreen on
// more than one machine.
//
// Everything lives under one key prefix (Options.Prefix):
//
//	<prefix>state              the committed state (JSON, with its revision)
//	<prefix>history/next       the next event ID (decimal)
//	<prefix>history/e/<id>     one event (JSON); <id> is zero-padded to 20
//	                           digits, so keys sort in ID order
//	<prefix>tokens/hash/<hex>  a token, by the hex SHA-256 of its secret
//	<prefix>tokens/name/<name> the hex hash of the token named name
//
// A Commit is one etcd transaction that compares the state key's and the
// ID counter's mod revisions with the ones it read, so two writers (in this
// process or any other) never both commit from the same revision. Events are
// written once and never rewritten. A write that etcd acknowledged is on a
// quorum of members' disks: losing a minority of members loses nothing.
//
// etcd caps the operations of one transaction (--max-txn-ops, 128 by
// default): a Commit or Append carries at most that many events minus two,
// and fails (changing nothing) with more.
//
// When etcd cannot be reached (no quorum, every endpoint down) calls fail
// within Options.RequestTimeout with an EUNAVAILABLE error whose message
// begins "state store unreachable"; when it refuses the credentials or the
// prefix, with one that begins "state store refused access".
package etcd

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/bluegreen/bluegreen"
)

// ErrClosed is returned (wrapped) by every call on a Store after Close.
var ErrClosed = bluegreen.Errorf(bluegreen.EUNAVAILABLE, "the state store is closed")

// Defaults for Options' zero fields.
const (
	DefaultPrefix         = "/bluegreen/"
	DefaultDialTimeout    = 5 * time.Second
	DefaultRequestTimeout = 5 * time.Second
)

// Options says how to reach etcd. Only Endpoints is required.
type Options struct {
	// Endpoints are the client URLs of the cluster's members
	// ("http://127.0.0.1:2379", or "127.0.0.1:2379").
	Endpoints []string
	// Prefix is the key prefix under which everything is stored; several
	// installations may share a cluster under different prefixes. A
	// missing trailing "/" is added. Empty means DefaultPrefix.
	Prefix string
	// TLS, when not nil, is used for every connection (client certificates
	// go in its Certificates, the cluster's CA in RootCAs).
	TLS *tls.Config
	// Username and Password authenticate to etcd when Username is set.
	Username, Password string
	// DialTimeout bounds Open's first contact with the cluster (default
	// DefaultDialTimeout).
	DialTimeout time.Duration
	// RequestTimeout bounds each call to etcd, so that a call fails with
	// "state store unreachable" instead of hanging while the cluster has
	// no quorum (default DefaultRequestTimeout).
	RequestTimeout time.Duration
}

// Store is a bluegreen.Store on etcd. It is safe for concurrent use, by
// several goroutines and by several processes on the same prefix.
type Store struct {
	cli       *clientv3.Client
	prefix    string
	endpoints string
	timeout   time.Duration
	closed    atomic.Bool
}

var (
	_ bluegreen.Store      = (*Store)(nil)
	_ bluegreen.TokenStore = (*Store)(nil)
)

// Open connects to the cluster and reads the state once, so that a wrong
// address or a cluster without quorum ("state store unreachable: ..."), and
// bad credentials or a prefix the user may not use ("state store refused
// access: ..."), fail here with an EUNAVAILABLE error naming the store,
// within DialTimeout, rather than at the first commit. Open without
// endpoints fails with EINVALID. Close the Store when done.
func Open(ctx context.Context, o Options) (*Store, error) {
	if len(o.Endpoints) == 0 {
		return nil, bluegreen.Errorf(bluegreen.EINVALID, "opening the etcd state store: no endpoints")
	}
	if o.Prefix == "" {
		o.Prefix = DefaultPrefix
	}
	if !strings.HasSuffix(o.Prefix, "/") {
		o.Prefix += "/"
	}
	if o.DialTimeout <= 0 {
		o.DialTimeout = DefaultDialTimeout
	}
	if o.RequestTimeout <= 0 {
		o.RequestTimeout = DefaultRequestTimeout
	}
	cli, err := clientv3.New(clientv3.Config{
		Endpoints:   o.Endpoints,
		DialTimeout: o.DialTimeout,
		TLS:         o.TLS,
		Username:    o.Username,
		Password:    o.Password,
		Context:     context.WithoutCancel(ctx),
		Logger:      zap.NewNop(), // errors reach the caller; the client's own log is noise
	})
	s := &Store{
		cli:       cli,
		prefix:    o.Prefix,
		endpoints: strings.Join(o.Endpoints, ","),
		timeout:   o.RequestTimeout,
	}
	if err != nil {
		return nil, fmt.Errorf("opening state: %w", s.classify(err))
	}
	cctx, cancel := context.WithTimeout(ctx, o.DialTimeout)
	defer cancel()
	if _, err := cli.Get(cctx, s.key(stateKey)); err != nil {
		cli.Close()
		return nil, fmt.Errorf("opening state: %w", s.classify(s.ctxErr(cctx, err)))
	}
	return s, nil
}

// Prefix returns the key prefix the store uses, ending in "/".
func (s *Store) Prefix() string { return s.prefix }

// StateKey returns the key that holds the committed state (JSON of
// bluegreen.State), for watching it.
func (s *Store) StateKey() string { return s.key(stateKey) }

// Client returns the store's etcd client, for what shares the cluster
// beside the store (membership, election). It is closed by Close.
func (s *Store) Client() *clientv3.Client { return s.cli }

// Close closes the connection to etcd; calls after Close fail with
// ErrClosed. Closing twice is a no-op. Close does not wait for calls in
// progress: they finish or fail.
func (s *Store) Close() error {
	if s.closed.Swap(true) {
		return nil
	}
	if err := s.cli.Close(); err != nil && !errors.Is(err, context.Canceled) {
		return fmt.Errorf("closing the etcd state store at %s: %w", s.endpoints, err)
	}
	return nil
}

// Key names under the prefix.
const (
	stateKey      = "state"
	nextIDKey     = "history/next"
	historyPrefix = "history/e/"
	tokenByHash   = "tokens/hash/"
	tokenByName   = "tokens/name/"
)

func (s *Store) key(k string) string { return s.prefix + k }

// eventKey is the key of event id: its digits padded so that keys sort in
// ID order.
func (s *Store) eventKey(id int64) string {
	return fmt.Sprintf("%s%s%020d", s.prefix, historyPrefix, id)
}

// call returns a context bounded by the request timeout, or ErrClosed.
func (s *Store) call(ctx context.Context, op string) (context.Context, context.CancelFunc, error) {
	if s.closed.Load() {
		return nil, nil, fmt.Errorf("%s: %w", op, ErrClosed)
	}
	if err := ctx.Err(); err != nil {
		return nil, nil, fmt.Errorf("%s: %w", op, err)
	}
	cctx, cancel := context.WithTimeout(ctx, s.timeout)
	return cctx, cancel, nil
}

// fail wraps err, a failure of op talking to etcd within ctx (the call's
// context, from call), with context: ErrClosed after Close, the caller's
// cancellation as it is, and otherwise an error the caller can show (see
// classify).
func (s *Store) fail(ctx context.Context, op string, err error) error {
	if s.closed.Load() {
		return fmt.Errorf("%s: %w", op, ErrClosed)
	}
	err = s.ctxErr(ctx, err)
	if errors.Is(err, context.Canceled) {
		return fmt.Errorf("%s: %w", op, err)
	}
	var be *bluegreen.Error
	if errors.As(err, &be) {
		return err
	}
	return fmt.Errorf("%s: %w", op, s.classify(err))
}

// ctxErr prefers ctx's own error to the client's rendering of it (a server
// may answer "code = Unknown desc = context deadline exceeded").
func (s *Store) ctxErr(ctx context.Context, err error) error {
	if cerr := ctx.Err(); cerr != nil && !errors.Is(err, cerr) {
		return fmt.Errorf("%w (%v)", cerr, err)
	}
	return err
}

// classify turns an error of the etcd client into one whose message names
// the store: EUNAVAILABLE "state store unreachable" when etcd did not answer
// in time (the call's deadline passed, whatever the client made of it) or
// has no quorum; EUNAVAILABLE "state store refused access" for bad
// credentials or missing permissions on the prefix; EINVALID for a write
// with more operations than etcd allows in one transaction; err itself
// (EINTERNAL) otherwise. The result wraps err.
func (s *Store) classify(err error) error {
	var e *bluegreen.Error
	switch {
	case isUnreachable(err):
		e = bluegreen.Errorf(bluegreen.EUNAVAILABLE, "state store unreachable: etcd at %s: %v", s.endpoints, err)
	case isDenied(err):
		e = bluegreen.Errorf(bluegreen.EUNAVAILABLE, "state store refused access: etcd at %s under %s: %v", s.endpoints, s.prefix, err)
	case rpctypes.Error(err) == rpctypes.ErrTooManyOps:
		e = bluegreen.Errorf(bluegreen.EINVALID, "too many events for one write to the etcd state store at %s: %v", s.endpoints, err)
	default:
		return fmt.Errorf("etcd at %s: %w", s.endpoints, err)
	}
	return &storeError{e, err}
}

// storeError is a domain error (what callers are shown) that keeps the
// client's error in the chain, for errors.Is, without repeating it.
type storeError struct {
	shown *bluegreen.Error
	cause error
}

func (e *storeError) Error() string   { return e.shown.Message }
func (e *storeError) Unwrap() []error { return []error{e.shown, e.cause} }

// isUnreachable reports whether err says etcd could not be reached or
// could not reach a decision (no leader, no quorum, timed out).
func isUnreachable(err error) bool {
	if errors.Is(err, context.DeadlineExceeded) {
		return true
	}
	var ee rpctypes.EtcdError
	if errors.As(rpctypes.Error(err), &ee) {
		return ee.Code() == codes.Unavailable || ee.Code() == codes.DeadlineExceeded
	}
	st := status.Convert(err)
	switch st.Code() {
	case codes.Unavailable, codes.DeadlineExceeded:
		return true
	case codes.Unknown:
		// The member's handler gave up on the deadline propagated from
		// this side just before the client did.
		return st.Message() == context.DeadlineExceeded.Error()
	}
	return false
}

// isDenied reports whether etcd refused the credentials or the access.
func isDenied(err error) bool {
	switch rpctypes.Error(err) {
	case rpctypes.ErrUserEmpty, rpctypes.ErrAuthFailed, rpctypes.ErrPermissionDenied,
		rpctypes.ErrInvalidAuthToken, rpctypes.ErrAuthNotEnabled:
		return true
	}
	return false
}
