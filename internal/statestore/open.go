// Package statestore opens the state store a config or a command line
// names (a SQLite state directory or an etcd URL) and copies one store into
// another (`bluegreen state copy`). It is wiring: it knows both stores.
package statestore

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"
	"path/filepath"

	"github.com/bluegreen/bluegreen"
	"github.com/bluegreen/bluegreen/config"
	"github.com/bluegreen/bluegreen/store/etcd"
	"github.com/bluegreen/bluegreen/store/sqlite"
)

// StateFileName is the SQLite state file in a state directory.
const StateFileName = "state.db"

// Store is what both state stores implement: the state and history, the
// tokens, and the token hashes (for copying).
type Store interface {
	bluegreen.Store
	bluegreen.TokenStore
	// TokenHashes returns the hash of each token's secret by name.
	TokenHashes(ctx context.Context) (map[string][32]byte, error)
}

var (
	_ Store = (*sqlite.Store)(nil)
	_ Store = (*etcd.Store)(nil)
)

// Location names a state store: a SQLite state directory (Dir) or an etcd
// cluster (Etcd, when not nil).
type Location struct {
	Dir  string
	Etcd *config.Etcd
}

// String returns the directory or the etcd URL.
func (l Location) String() string {
	if l.Etcd != nil {
		return l.Etcd.String()
	}
	return l.Dir
}

// ParseLocation reads a --from or --to argument: an etcd URL or a
// directory (made absolute). An etcd URL takes TLS and credentials from
// like when like names the same endpoints and prefix (the config's
// `state:`), so that copying to or from the configured cluster needs no
// more flags; like may be nil.
func ParseLocation(s string, like *config.Etcd) (Location, error) {
	if s == "" {
		return Location{}, fmt.Errorf("an empty state location (want a directory or etcd://host:port/prefix)")
	}
	if !config.IsEtcdURL(s) {
		abs, err := filepath.Abs(s)
		if err != nil {
			return Location{}, fmt.Errorf("resolving %q: %w", s, err)
		}
		return Location{Dir: abs}, nil
	}
	e, err := config.ParseEtcdURL(s)
	if err != nil {
		return Location{}, err
	}
	if like != nil && like.String() == e.String() {
		e = like
	}
	return Location{Etcd: e}, nil
}

// Open opens the store at l: for a directory, its state.db (created when
// missing, as serve does); for etcd, the cluster, failing with an
// EUNAVAILABLE error beginning "state store unreachable" when it cannot be
// reached. Close the Store when done.
func Open(ctx context.Context, l Location) (Store, error) {
	if l.Etcd != nil {
		return OpenEtcd(ctx, l.Etcd)
	}
	if err := os.MkdirAll(l.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("creating the state directory: %w", err)
	}
	return sqlite.Open(ctx, filepath.Join(l.Dir, StateFileName))
}

// OpenEtcd opens the etcd store e names, with its TLS files and
// credentials file read now. Errors name the store (see etcd.Open).
func OpenEtcd(ctx context.Context, e *config.Etcd) (*etcd.Store, error) {
	o := etcd.Options{Endpoints: e.Endpoints, Prefix: e.Prefix}
	if e.TLS() {
		t, err := tlsConfig(e)
		if err != nil {
			return nil, err
		}
		o.TLS = t
	}
	if e.AuthFile != "" {
		var err error
		if o.Username, o.Password, err = config.ReadEtcdAuth(e.AuthFile); err != nil {
			return nil, err
		}
	}
	return etcd.Open(ctx, o)
}

// tlsConfig loads `state_tls:`'s files.
func tlsConfig(e *config.Etcd) (*tls.Config, error) {
	t := &tls.Config{MinVersion: tls.VersionTLS12}
	if e.CA != "" {
		pem, err := os.ReadFile(e.CA)
		if err != nil {
			return nil, fmt.Errorf("reading the etcd CA: %w", err)
		}
		t.RootCAs = x509.NewCertPool()
		if !t.RootCAs.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("the etcd CA file %s holds no PEM certificate", e.CA)
		}
	}
	if e.Cert != "" {
		c, err := tls.LoadX509KeyPair(e.Cert, e.Key)
		if err != nil {
			return nil, fmt.Errorf("loading the etcd client certificate: %w", err)
		}
		t.Certificates = []tls.Certificate{c}
	}
	return t, nil
}
