package etcd

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/bluegreen/bluegreen"
)

// tokenKeys are the keys of a token: by the hash of its secret (holding the
// token) and by its name (holding the hex hash).
func (s *Store) tokenKeys(name string, hash [32]byte) (byHash, byName string) {
	return s.key(tokenByHash + hex.EncodeToString(hash[:])), s.key(tokenByName + name)
}

// CreateToken implements bluegreen.TokenStore: only the hash of the secret
// is stored (as a key). Two tokens may not share a secret either.
func (s *Store) CreateToken(ctx context.Context, t bluegreen.Token, hash [32]byte) error {
	const op = "creating a token"
	cctx, cancel, err := s.call(ctx, op)
	if err != nil {
		return err
	}
	defer cancel()
	t.At, t.Revoked = t.At.UTC(), time.Time{}
	data, err := json.Marshal(t)
	if err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	byHash, byName := s.tokenKeys(t.Name, hash)
	resp, err := s.cli.Txn(cctx).
		If(clientv3.Compare(clientv3.CreateRevision(byName), "=", 0), clientv3.Compare(clientv3.CreateRevision(byHash), "=", 0)).
		Then(clientv3.OpPut(byName, hex.EncodeToString(hash[:])), clientv3.OpPut(byHash, string(data))).
		Else(clientv3.OpGet(byName, clientv3.WithCountOnly())).
		Commit()
	if err != nil {
		return s.fail(cctx, op, err)
	}
	if !resp.Succeeded {
		if resp.Responses[0].GetResponseRange().Count > 0 {
			return bluegreen.Errorf(bluegreen.ECONFLICT, "a token named %q exists already (names stay unique, revoked ones included)", t.Name)
		}
		return fmt.Errorf("%s: another token has the same secret", op)
	}
	return nil
}

// LookupToken implements bluegreen.TokenStore.
func (s *Store) LookupToken(ctx context.Context, hash [32]byte) (bluegreen.Token, error) {
	const op = "looking up a token"
	cctx, cancel, err := s.call(ctx, op)
	if err != nil {
		return bluegreen.Token{}, err
	}
	defer cancel()
	byHash, _ := s.tokenKeys("", hash)
	resp, err := s.cli.Get(cctx, byHash)
	if err != nil {
		return bluegreen.Token{}, s.fail(cctx, op, err)
	}
	if len(resp.Kvs) == 0 {
		return bluegreen.Token{}, bluegreen.Errorf(bluegreen.ENOTFOUND, "no such token")
	}
	t, err := decodeToken(resp.Kvs[0].Value)
	if err != nil {
		return t, fmt.Errorf("%s: %w", op, err)
	}
	if !t.Revoked.IsZero() {
		return bluegreen.Token{}, bluegreen.Errorf(bluegreen.ENOTFOUND, "no such token")
	}
	return t, nil
}

// Tokens implements bluegreen.TokenStore: oldest first, by name when two
// were created at the same time.
func (s *Store) Tokens(ctx context.Context) ([]bluegreen.Token, error) {
	const op = "listing tokens"
	cctx, cancel, err := s.call(ctx, op)
	if err != nil {
		return nil, err
	}
	defer cancel()
	resp, err := s.cli.Get(cctx, s.key(tokenByHash), clientv3.WithPrefix())
	if err != nil {
		return nil, s.fail(cctx, op, err)
	}
	var out []bluegreen.Token
	for _, kv := range resp.Kvs {
		t, err := decodeToken(kv.Value)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", op, err)
		}
		out = append(out, t)
	}
	slices.SortFunc(out, func(a, b bluegreen.Token) int {
		if c := a.At.Compare(b.At); c != 0 {
			return c
		}
		return strings.Compare(a.Name, b.Name)
	})
	return out, nil
}

// RevokeToken implements bluegreen.TokenStore.
func (s *Store) RevokeToken(ctx context.Context, name string, at time.Time) (bluegreen.Token, error) {
	const op = "revoking a token"
	cctx, cancel, err := s.call(ctx, op)
	if err != nil {
		return bluegreen.Token{}, err
	}
	defer cancel()
	_, byName := s.tokenKeys(name, [32]byte{})
	for {
		resp, err := s.cli.Get(cctx, byName)
		if err != nil {
			return bluegreen.Token{}, s.fail(cctx, op, err)
		}
		if len(resp.Kvs) == 0 {
			return bluegreen.Token{}, bluegreen.Errorf(bluegreen.ENOTFOUND, "no token named %q", name)
		}
		byHash := s.key(tokenByHash + string(resp.Kvs[0].Value))
		tr, err := s.cli.Get(cctx, byHash)
		if err != nil {
			return bluegreen.Token{}, s.fail(cctx, op, err)
		}
		if len(tr.Kvs) == 0 {
			return bluegreen.Token{}, fmt.Errorf("%s: token %q has no record under its hash", op, name)
		}
		t, err := decodeToken(tr.Kvs[0].Value)
		if err != nil {
			return t, fmt.Errorf("%s: %w", op, err)
		}
		if !t.Revoked.IsZero() {
			return bluegreen.Token{}, bluegreen.Errorf(bluegreen.ECONFLICT, "token %q was already revoked at %s", name, t.Revoked.Format(time.RFC3339))
		}
		t.Revoked = at.UTC()
		data, err := json.Marshal(t)
		if err != nil {
			return t, fmt.Errorf("%s: %w", op, err)
		}
		put, err := s.cli.Txn(cctx).
			If(clientv3.Compare(clientv3.ModRevision(byHash), "=", tr.Kvs[0].ModRevision)).
			Then(clientv3.OpPut(byHash, string(data))).Commit()
		if err != nil {
			return bluegreen.Token{}, s.fail(cctx, op, err)
		}
		if put.Succeeded {
			return t, nil
		}
		// Revoked meanwhile by someone else: read again to say so.
	}
}

func decodeToken(data []byte) (bluegreen.Token, error) {
	var t bluegreen.Token
	if err := json.Unmarshal(data, &t); err != nil {
		return t, fmt.Errorf("a stored token is damaged: %w", err)
	}
	return t, nil
}
