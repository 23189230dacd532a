package config

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestEtcdState(t *testing.T) {
	dir := t.TempDir()
	auth := filepath.Join(dir, "etcd-auth")
	if err := os.WriteFile(auth, []byte("bluegreen:s3cret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(dir, "bluegreen.yaml")
	c, err := Parse(file, []byte(minimal+"state: etcd://127.0.0.1:2379,[::1]:22379/team/prod\nstate_auth: etcd-auth\n"))
	if err != nil {
		t.Fatal(err)
	}
	want := &Etcd{Endpoints: []string{"127.0.0.1:2379", "[::1]:22379"}, Prefix: "/team/prod/", AuthFile: auth}
	if c.Etcd == nil || !slices.Equal(c.Etcd.Endpoints, want.Endpoints) || c.Etcd.Prefix != want.Prefix || c.Etcd.AuthFile != auth {
		t.Fatalf("Etcd = %+v, want %+v", c.Etcd, want)
	}
	if c.StateDir != filepath.Join(dir, DefaultStateDir) {
		t.Errorf("StateDir = %q, want the default data_dir beside the config", c.StateDir)
	}
	if u, p, err := ReadEtcdAuth(auth); err != nil || u != "bluegreen" || p != "s3cret" {
		t.Errorf("ReadEtcdAuth = %q, %q, %v", u, p, err)
	}
	c, err = Parse(file, []byte(minimal+"state: etcd://127.0.0.1:2379\ndata_dir: /srv/bg\n"))
	if err != nil {
		t.Fatal(err)
	}
	if c.Etcd.Prefix != DefaultEtcdPrefix || c.StateDir != "/srv/bg" {
		t.Errorf("prefix %q, StateDir %q; want the default prefix and data_dir", c.Etcd.Prefix, c.StateDir)
	}
	if err := os.Chmod(auth, 0o640); err != nil {
		t.Fatal(err)
	}
	_, err = Parse(file, []byte(minimal+"state: etcd://127.0.0.1:2379\nstate_auth: etcd-auth\n"))
	if err == nil || !strings.Contains(err.Error(), ":7:13: state_auth: the etcd credentials file") || !strings.Contains(err.Error(), "chmod 600") {
		t.Errorf("a credentials file readable by the group: err = %v, want a positioned refusal", err)
	}
}

func TestParseEtcdURL(t *testing.T) {
	for _, bad := range []string{"etcd://", "etcd:///p", "etcd://host", "etcd://h:0/p", "etcd://a:1,a:1", "etcd://:2379", "etcd://h:1/a b"} {
		if e, err := ParseEtcdURL(bad); err == nil {
			t.Errorf("ParseEtcdURL(%q) = %+v, want an error", bad, e)
		}
	}
	e, err := ParseEtcdURL("etcd://h:1/")
	if err != nil || e.Prefix != DefaultEtcdPrefix || e.String() != "etcd://h:1/bluegreen" {
		t.Errorf("ParseEtcdURL = %+v, %v", e, err)
	}
}

func TestClusterSection(t *testing.T) {
	file := filepath.Join(t.TempDir(), "bluegreen.yaml")
	c, err := Parse(file, []byte(minimal+"state: etcd://127.0.0.1:2379\n"))
	if err != nil {
		t.Fatal(err)
	}
	if c.Cluster == nil || *c.Cluster != DefaultCluster() {
		t.Errorf("Cluster = %+v, want the defaults with etcd state", c.Cluster)
	}
	c, err = Parse(file, []byte(minimal+"state: etcd://127.0.0.1:2379\ncluster: {id: edge-1, advertise: 10.0.0.1:9001, ttl: 4s, ack_timeout: 2s}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if want := (Cluster{ID: "edge-1", Advertise: "10.0.0.1:9001", TTL: 4 * time.Second, AckTimeout: 2 * time.Second}); *c.Cluster != want {
		t.Errorf("Cluster = %+v, want %+v", *c.Cluster, want)
	}
	if c, err := Parse(file, []byte(minimal)); err != nil || c.Cluster != nil {
		t.Errorf("SQLite state: Cluster = %+v, %v; want nil", c.Cluster, err)
	}
	for _, tc := range []struct{ yaml, want string }{
		{"state: etcd://h:1\ncluster: {id: a/b}\n", `cluster.id: "a/b": an instance ID is 1 to 64 characters`},
		{"state: etcd://h:1\ncluster: {ttl: 1s}\n", "cluster.ttl: must be at least 2s"},
		{"state: etcd://h:1\ncluster: {ack_timeout: 0s}\n", "cluster.ack_timeout: must be > 0"},
		{"state: etcd://h:1\ncluster: {advertise: nohost}\n", "cluster.advertise:"},
		{"state: etcd://h:1\ncluster: {leader: me}\n", "leader"},
		{"cluster: {id: a}\n", "cluster: is only for etcd state"},
	} {
		_, err := Parse(file, []byte(minimal+tc.yaml))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: err = %v, want it to say %q", tc.yaml, err, tc.want)
		}
	}
}
