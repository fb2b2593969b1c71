package main_test

import (
	"context"
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
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"

	authv1 "github.com/authd-dev/authd/gen/auth/v1"
)

// testCA is a certificate authority made for one test.
type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pool *x509.CertPool
	pem  []byte
}

var serial int64

func newCA(t *testing.T, name string) *testCA {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	serial++
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return &testCA{cert: cert, key: key, pool: pool, pem: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})}
}

// issue returns a PEM certificate and key for 127.0.0.1 (server) or a client.
func (ca *testCA) issue(t *testing.T, client bool) (certPEM, keyPEM []byte) {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	serial++
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: "authd-test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
	}
	if client {
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, _ := x509.MarshalPKCS8PrivateKey(key)
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER})
}

func writeFile(t *testing.T, path string, data []byte) {
	t.Helper()
	// Write next to it and rename, as certificate managers do.
	tmp := path + ".new"
	if err := os.WriteFile(tmp, data, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

// handshake reports whether a TLS client trusting roots (and presenting
// clientCert, if any) can call authd at addr.
func handshake(addr string, roots *x509.CertPool, clientCert *tls.Certificate) error {
	cfg := &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}
	if clientCert != nil {
		cfg.Certificates = []tls.Certificate{*clientCert}
	}
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(credentials.NewTLS(cfg)))
	if err != nil {
		return err
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, err = authv1.NewAuthServiceClient(conn).GetJWKS(ctx, &authv1.GetJWKSRequest{})
	return err
}

// eventually retries f for up to 15 s: a real process reloads on its own
// schedule.
func eventually(t *testing.T, what string, f func() error) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		err := f()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %v", what, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func TestE2E_TLSCertificateReload(t *testing.T) {
	data, dir := t.TempDir(), t.TempDir()
	certFile, keyFile := filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
	first, second := newCA(t, "first"), newCA(t, "second")
	c, k := first.issue(t, false)
	writeFile(t, certFile, c)
	writeFile(t, keyFile, k)
	cmd, addr := startServe(t, data, nil, "--tls-cert", certFile, "--tls-key", keyFile)
	if err := handshake(addr, first.pool, nil); err != nil {
		t.Fatalf("TLS with the first certificate: %v", err)
	}

	// A renewal written to disk is picked up without a signal.
	c, k = second.issue(t, false)
	writeFile(t, keyFile, k)
	writeFile(t, certFile, c)
	eventually(t, "new certificate after a file change", func() error { return handshake(addr, second.pool, nil) })

	// A broken file keeps the current certificate, even on SIGHUP.
	writeFile(t, certFile, []byte("not a certificate"))
	cmd.Process.Signal(syscall.SIGHUP)
	time.Sleep(200 * time.Millisecond) // give the reload a chance to (wrongly) drop the certificate
	if err := handshake(addr, second.pool, nil); err != nil {
		t.Fatalf("a broken certificate file took TLS down: %v", err)
	}

	// SIGHUP reloads at once.
	c, k = first.issue(t, false)
	writeFile(t, keyFile, k)
	writeFile(t, certFile, c)
	cmd.Process.Signal(syscall.SIGHUP)
	eventually(t, "certificate after SIGHUP", func() error { return handshake(addr, first.pool, nil) })
}

func TestE2E_MutualTLS(t *testing.T) {
	data, dir := t.TempDir(), t.TempDir()
	server, clients := newCA(t, "server"), newCA(t, "clients")
	certFile, keyFile, caFile := filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key"), filepath.Join(dir, "clients.pem")
	c, k := server.issue(t, false)
	writeFile(t, certFile, c)
	writeFile(t, keyFile, k)
	writeFile(t, caFile, clients.pem)
	_, addr := startServe(t, data, nil, "--tls-cert", certFile, "--tls-key", keyFile, "--client-ca", caFile)

	if err := handshake(addr, server.pool, nil); err == nil {
		t.Fatal("a client without a certificate got in")
	}
	cc, ck := clients.issue(t, true)
	good, err := tls.X509KeyPair(cc, ck)
	if err != nil {
		t.Fatal(err)
	}
	if err := handshake(addr, server.pool, &good); err != nil {
		t.Fatalf("client with a certificate from the client CA: %v", err)
	}
	oc, ok := newCA(t, "other").issue(t, true)
	other, _ := tls.X509KeyPair(oc, ok)
	if err := handshake(addr, server.pool, &other); err == nil {
		t.Fatal("a client certificate from another CA got in")
	}
}
