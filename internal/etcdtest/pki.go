package etcdtest

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
	"testing"
	"time"
)

// PKI is a CA and, signed by it, a server certificate for 127.0.0.1 and a
// client certificate, as PEM files (0600) in a test's directory.
type PKI struct {
	// CA is the CA certificate's file.
	CA string
	// ServerCert and ServerKey are etcd's certificate and key files.
	ServerCert, ServerKey string
	// ClientCert and ClientKey are a client's certificate and key files.
	ClientCert, ClientKey string

	dir   string
	ca    *x509.Certificate
	caKey *ecdsa.PrivateKey
}

// NewPKI generates the CA and both certificates (ECDSA P-256, valid for an
// hour) in t.TempDir().
func NewPKI(t testing.TB) *PKI {
	t.Helper()
	p := &PKI{dir: t.TempDir()}
	var caDER []byte
	p.caKey, caDER = p.issue(t, &x509.Certificate{Subject: pkix.Name{CommonName: "bluegreen test CA"},
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign})
	var err error
	if p.ca, err = x509.ParseCertificate(caDER); err != nil {
		t.Fatal(err)
	}
	p.CA = p.write(t, "ca.pem", "CERTIFICATE", caDER)
	key, der := p.issue(t, &x509.Certificate{Subject: pkix.Name{CommonName: "etcd"},
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}})
	p.ServerCert, p.ServerKey = p.write(t, "server.pem", "CERTIFICATE", der), p.writeKey(t, "server-key.pem", key)
	key, der = p.issue(t, &x509.Certificate{Subject: pkix.Name{CommonName: "bluegreen"},
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}})
	p.ClientCert, p.ClientKey = p.write(t, "client.pem", "CERTIFICATE", der), p.writeKey(t, "client-key.pem", key)
	return p
}

// ServeTLS is what StartWith needs to serve clients with p's server
// certificate, accepting only client certificates signed by p's CA.
func (p *PKI) ServeTLS(t testing.TB) *ClientTLS {
	t.Helper()
	return &ClientTLS{Args: []string{"--cert-file", p.ServerCert, "--key-file", p.ServerKey,
		"--client-cert-auth", "--trusted-ca-file", p.CA}, Config: p.clientTLS(t)}
}

// clientTLS is a TLS config with the client certificate, trusting the CA.
func (p *PKI) clientTLS(t testing.TB) *tls.Config {
	t.Helper()
	c, err := tls.LoadX509KeyPair(p.ClientCert, p.ClientKey)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(p.ca)
	return &tls.Config{RootCAs: pool, Certificates: []tls.Certificate{c}, MinVersion: tls.VersionTLS12}
}

// issue makes a key and a certificate from tmpl, signed by the CA (or by
// itself while there is no CA yet).
func (p *PKI) issue(t testing.TB, tmpl *x509.Certificate) (*ecdsa.PrivateKey, []byte) {
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

func (p *PKI) writeKey(t testing.TB, name string, key *ecdsa.PrivateKey) string {
	t.Helper()
	der, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return p.write(t, name, "EC PRIVATE KEY", der)
}

// write stores der as a PEM block of type typ (0600) and returns its path.
func (p *PKI) write(t testing.TB, name, typ string, der []byte) string {
	t.Helper()
	path := filepath.Join(p.dir, name)
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}
