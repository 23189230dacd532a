package etcd

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bluegreen/bluegreen"
	"github.com/bluegreen/bluegreen/internal/etcdtest"
	"github.com/bluegreen/bluegreen/internal/storetest"
)

// testPKI is a CA and, signed by it, a server certificate for 127.0.0.1 and
// a client certificate, as PEM files in a test's directory.
type testPKI struct {
	dir                   string
	ca                    *x509.Certificate
	caKey                 *ecdsa.PrivateKey
	pool                  *x509.CertPool
	caFile                string
	serverCert, serverKey string
	client                tls.Certificate
}

// newPKI generates the CA and both certificates (ECDSA P-256, valid for an
// hour) in t.TempDir().
func newPKI(t *testing.T) *testPKI {
	t.Helper()
	p := &testPKI{dir: t.TempDir(), pool: x509.NewCertPool()}
	var caDER []byte
	p.caKey, caDER = p.issue(t, &x509.Certificate{
		Subject: pkix.Name{CommonName: "bluegreen test CA"}, IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign,
	})
	var err error
	if p.ca, err = x509.ParseCertificate(caDER); err != nil {
		t.Fatal(err)
	}
	p.pool.AddCert(p.ca)
	p.caFile = p.write(t, "ca.pem", "CERTIFICATE", caDER)

	key, der := p.issue(t, &x509.Certificate{Subject: pkix.Name{CommonName: "etcd"},
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}})
	p.serverCert = p.write(t, "server.pem", "CERTIFICATE", der)
	p.serverKey = p.write(t, "server-key.pem", "EC PRIVATE KEY", marshalKey(t, key))

	key, der = p.issue(t, &x509.Certificate{Subject: pkix.Name{CommonName: "bluegreen"},
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}})
	p.client = tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
	return p
}

// issue makes a key and a certificate from tmpl, signed by the CA (or by
// itself while there is no CA yet).
func (p *testPKI) issue(t *testing.T, tmpl *x509.Certificate) (*ecdsa.PrivateKey, []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	serial, err := rand.Int(rand.Reader, big.NewInt(1<<62))
	if err != nil {
		t.Fatal(err)
	}
	tmpl.SerialNumber = serial
	tmpl.NotBefore, tmpl.NotAfter = time.Now().Add(-time.Minute), time.Now().Add(time.Hour)
	parent, signer := tmpl, key
	if p.ca != nil {
		parent, signer = p.ca, p.caKey
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, &key.PublicKey, signer)
	if err != nil {
		t.Fatal(err)
	}
	return key, der
}

func marshalKey(t *testing.T, key *ecdsa.PrivateKey) []byte {
	t.Helper()
	der, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return der
}

// write stores der as a PEM block of type typ in the PKI's directory (0600)
// and returns the file's path.
func (p *testPKI) write(t *testing.T, name, typ string, der []byte) string {
	t.Helper()
	path := filepath.Join(p.dir, name)
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestTLS runs etcd with client certificate authentication: the store
// works with a client certificate signed by the cluster's CA, and Open
// fails, naming the store, without one.
func TestTLS(t *testing.T) {
	p := newPKI(t)
	withCert := &tls.Config{RootCAs: p.pool, Certificates: []tls.Certificate{p.client}, MinVersion: tls.VersionTLS12}
	ms := etcdtest.StartWith(t, 1, &etcdtest.ClientTLS{
		Args: []string{"--cert-file", p.serverCert, "--key-file", p.serverKey,
			"--client-cert-auth", "--trusted-ca-file", p.caFile},
		Config: withCert,
	})
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

	noCert := &tls.Config{RootCAs: p.pool, MinVersion: tls.VersionTLS12}
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
