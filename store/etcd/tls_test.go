package etcd

import (
	"crypto/tls"
	"strings"
	"testing"
	"time"

	"github.com/bluegreen/bluegreen"
	"github.com/bluegreen/bluegreen/internal/etcdtest"
	"github.com/bluegreen/bluegreen/internal/storetest"
)

// TestTLS runs etcd with client certificate authentication: the store
// works with a client certificate signed by the cluster's CA, and Open
// fails, naming the store, without one.
func TestTLS(t *testing.T) {
	serve := etcdtest.NewPKI(t).ServeTLS(t)
	withCert := serve.Config
	ms := etcdtest.StartWith(t, 1, serve)
	eps := etcdtest.Endpoints(ms)
	if !strings.HasPrefix(eps[0], "https://") {
		t.Fatalf("endpoint %s is not TLS", eps[0])
	}
	s, err := Open(t.Context(), Options{Endpoints: eps, Prefix: "/tls/", TLS: withCert})
	if err != nil {
		t.Fatalf("Open with a client certificate: %v", err)
	}
	defer s.Close()
	if _, err := s.Commit(t.Context(), storetest.SampleState(0), bluegreen.Event{Action: bluegreen.ActionInit}); err != nil {
		t.Fatalf("Commit over TLS: %v", err)
	}

	noCert := &tls.Config{RootCAs: withCert.RootCAs, MinVersion: tls.VersionTLS12}
	s2, err := Open(t.Context(), Options{Endpoints: eps, Prefix: "/tls/", TLS: noCert, DialTimeout: time.Second})
	if err == nil {
		s2.Close()
		t.Fatal("Open without a client certificate succeeded")
	}
	if code := bluegreen.ErrorCode(err); code != bluegreen.EUNAVAILABLE || !strings.Contains(err.Error(), "etcd at "+eps[0]) {
		t.Errorf("Open without a client certificate: %v (code %q), want EUNAVAILABLE naming the store", err, code)
	}
	t.Logf("Open without a client certificate: %v", err)
}
