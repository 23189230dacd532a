package daemon

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net/http"
	"os"
	"time"

	"github.com/bluegreen/bluegreen"
	"github.com/bluegreen/bluegreen/api"
	"github.com/bluegreen/bluegreen/cluster"
	"github.com/bluegreen/bluegreen/config"
)

// This file is the API's side of several serves on one etcd: where a
// follower passes the leader-only calls (leader), over what (leaderTransport),
// and which admin tokens every instance accepts (sharedAdmins).

// leader is the API's Options.Leader.
func (m *member) leader(ctx context.Context) (string, string, bool, error) {
	if m.leading.Load() {
		return "", m.in.ID(), true, nil
	}
	lctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	id, err := m.in.Leader(lctx)
	switch {
	case errors.Is(err, cluster.ErrNoLeader):
		return "", m.in.ID(), false, bluegreen.Errorf(bluegreen.EUNAVAILABLE,
			"no serve instance leads right now (an election is under way, or none reaches the state store at %s); try again in a few seconds", m.where)
	case err != nil:
		return "", m.in.ID(), false, bluegreen.Errorf(bluegreen.EUNAVAILABLE, "state store unreachable: etcd at %s: finding the leader: %v", m.endpoints, err)
	case id == m.in.ID():
		// Elected: lead marks it leading as soon as its campaign returns.
		for !m.leading.Load() {
			if lctx.Err() != nil {
				return "", m.in.ID(), false, bluegreen.Errorf(bluegreen.EUNAVAILABLE, "this instance (%s) is taking over as the leader; try again", id)
			}
			sleep(lctx, 10*time.Millisecond)
		}
		return "", m.in.ID(), true, nil
	}
	ms, err := m.in.Members(lctx)
	if err != nil {
		return "", m.in.ID(), false, bluegreen.Errorf(bluegreen.EUNAVAILABLE, "state store unreachable: etcd at %s: finding the leader's address: %v", m.endpoints, err)
	}
	for _, mem := range ms {
		if mem.ID == id {
			return m.scheme + "://" + mem.Address, m.in.ID(), false, nil
		}
	}
	return "", m.in.ID(), false, bluegreen.Errorf(bluegreen.EUNAVAILABLE, "the leader %s is not registered (its lease just ended?); try again", id)
}

// sharedAdmins is the API's token store with a cluster: a token no
// named token matches may be another instance's admin token (see
// cluster.ShareAdminToken).
type sharedAdmins struct {
	bluegreen.TokenStore
	in *cluster.Instance
}

// LookupToken implements bluegreen.TokenStore.
func (s sharedAdmins) LookupToken(ctx context.Context, hash [32]byte) (bluegreen.Token, error) {
	t, err := s.TokenStore.LookupToken(ctx, hash)
	if bluegreen.ErrorCode(err) != bluegreen.ENOTFOUND {
		return t, err
	}
	id, aerr := s.in.AdminToken(ctx, hash)
	if aerr != nil || id == "" {
		return t, err
	}
	return bluegreen.Token{Name: api.AdminTokenName + "@" + id, Role: bluegreen.RoleAdmin}, nil
}

// leaderTransport carries the calls a follower passes to the leader: with
// api_tls, over TLS trusting the system's CAs and the instance's own
// certificate (instances commonly share one); nil (the default transport)
// for a plain HTTP API.
func leaderTransport(cfg *config.Config) http.RoundTripper {
	if cfg.APITLS == nil {
		return nil
	}
	pool, err := x509.SystemCertPool()
	if err != nil {
		pool = x509.NewCertPool()
	}
	if pem, err := os.ReadFile(cfg.APITLS.Cert); err == nil {
		pool.AppendCertsFromPEM(pem)
	}
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	return t
}
