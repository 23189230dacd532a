package statestore

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/bluegreen/bluegreen/config"
	"github.com/bluegreen/bluegreen/internal/etcdtest"
)

// TestOpenEtcdWithStateAuth turns etcd's authentication on and opens the
// store with a config's state_auth: file: the right password works, a
// wrong one fails naming the store.
func TestOpenEtcdWithStateAuth(t *testing.T) {
	ep := startEtcd(t)
	ctx := t.Context()
	root, err := clientv3.New(clientv3.Config{Endpoints: []string{ep}, DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		t.Fatal(err)
	}
	defer root.Close()
	if _, err := root.UserAdd(ctx, "root", "root-pw"); err != nil {
		t.Fatal(err)
	}
	if _, err := root.UserGrantRole(ctx, "root", "root"); err != nil {
		t.Fatal(err)
	}
	if _, err := root.AuthEnable(ctx); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	auth := filepath.Join(dir, "etcd-auth")
	yaml := "listen: 127.0.0.1:0\npreview: 127.0.0.1:0\napi: 127.0.0.1:0\nstate: etcd://" + ep + "/auth\nstate_auth: etcd-auth\n" +
		"blue: {branch: b, upstreams: [127.0.0.1:9001]}\ngreen: {branch: g, upstreams: [127.0.0.1:9002]}\n"
	open := func(line string) error {
		t.Helper()
		if err := os.WriteFile(auth, []byte(line), 0o600); err != nil {
			t.Fatal(err)
		}
		cfg, err := config.Parse(filepath.Join(dir, "bluegreen.yaml"), []byte(yaml))
		if err != nil {
			t.Fatal(err)
		}
		s, err := OpenEtcd(ctx, cfg.Etcd)
		if err == nil {
			s.Close()
		}
		return err
	}
	if err := open("root:root-pw\n"); err != nil {
		t.Fatalf("opening with the right credentials: %v", err)
	}
	if err := open("root:wrong\n"); err == nil || !strings.Contains(err.Error(), "state store refused access") {
		t.Fatalf("opening with a wrong password: err = %v, want the store named", err)
	}
}

// TestOpenEtcdWithStateTLS opens an etcd that requires client
// certificates with a config's state_tls:, and fails, naming the store,
// with only the CA.
func TestOpenEtcdWithStateTLS(t *testing.T) {
	p := etcdtest.NewPKI(t)
	ep := strings.TrimPrefix(etcdtest.StartWith(t, 1, p.ServeTLS(t))[0].ClientURL, "https://")
	dir := t.TempDir()
	base := "listen: 127.0.0.1:0\npreview: 127.0.0.1:0\napi: 127.0.0.1:0\nstate: etcd://" + ep + "/tls\n" +
		"blue: {branch: b, upstreams: [127.0.0.1:9001]}\ngreen: {branch: g, upstreams: [127.0.0.1:9002]}\n"
	open := func(tlsKeys string) error {
		t.Helper()
		cfg, err := config.Parse(filepath.Join(dir, "bluegreen.yaml"), []byte(base+tlsKeys))
		if err != nil {
			t.Fatal(err)
		}
		s, err := OpenEtcd(t.Context(), cfg.Etcd)
		if err == nil {
			defer s.Close()
			_, err = s.Load(t.Context())
		}
		return err
	}
	if err := open("state_tls: {ca: " + p.CA + ", cert: " + p.ClientCert + ", key: " + p.ClientKey + "}\n"); err != nil {
		t.Fatalf("opening with a client certificate: %v", err)
	}
	if err := open("state_tls: {ca: " + p.CA + "}\n"); err == nil || !strings.Contains(err.Error(), "state store") {
		t.Fatalf("opening without a client certificate: err = %v, want a failure naming the store", err)
	}
}

// startEtcd starts a one-member etcd and returns its host:port.
func startEtcd(t *testing.T) string {
	t.Helper()
	return strings.TrimPrefix(etcdtest.Start(t, 1)[0].ClientURL, "http://")
}
