package etcd

import (
	"context"
	"encoding/hex"
	"fmt"
	"strings"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// TokenHashes returns the SHA-256 hash of each token's secret, by token
// name, revoked tokens included: what `bluegreen state copy` needs to copy
// tokens to another store (the secrets themselves are never stored).
func (s *Store) TokenHashes(ctx context.Context) (map[string][32]byte, error) {
	const op = "listing token hashes"
	cctx, cancel, err := s.call(ctx, op)
	if err != nil {
		return nil, err
	}
	defer cancel()
	resp, err := s.cli.Get(cctx, s.key(tokenByName), clientv3.WithPrefix())
	if err != nil {
		return nil, s.fail(cctx, op, err)
	}
	out := make(map[string][32]byte, len(resp.Kvs))
	for _, kv := range resp.Kvs {
		name := strings.TrimPrefix(string(kv.Key), s.key(tokenByName))
		b, err := hex.DecodeString(string(kv.Value))
		if err != nil || len(b) != 32 {
			return nil, fmt.Errorf("%s: token %q has a bad stored hash %q", op, name, kv.Value)
		}
		out[name] = [32]byte(b)
	}
	return out, nil
}
