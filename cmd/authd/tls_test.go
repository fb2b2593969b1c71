package main

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
	"regexp"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/status"

	authv1 "github.com/authd-dev/authd/gen/auth/v1"
	"github.com/authd-dev/authd/token"
	"github.com/authd-dev/authd/wire"
)

// testCA is a certificate authority made for one test.
type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pool *x509.CertPool
	pem  []byte
}

// serial numbers the certificates of every test.
var serial atomic.Int64

func newCA(t *testing.T, name string) *testCA {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(serial.Add(1)), Subject: pkix.Name{CommonName: name},
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
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(serial.Add(1)), Subject: pkix.Name{CommonName: "authd-test"},
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

// The certificate and key a renewal writes to disk are served without a
// signal, once the poll notices them (the tests poll every 10 ms); a broken
// file keeps the current certificate.
func TestE2E_TLSRenewalOnDiskNeedsNoSignal(t *testing.T) {
	t.Parallel()
	first, second := newCA(t, "first"), newCA(t, "second")
	srv, certFile, keyFile := serveCertOf(t, first, "10ms", startServe)

	// A poll between the two renames sees a key that does not match the
	// certificate, fails and keeps the first; the next one loads the pair.
	mark := srv.log.mark()
	c, k := second.issue(t, false)
	writeFile(t, keyFile, k)
	writeFile(t, certFile, c)
	srv.log.awaitMsg(t, mark, "TLS certificate reloaded")
	if err := handshake(srv.addr, second.pool, nil); err != nil {
		t.Fatalf("the renewed certificate is not served after the reload: %v", err)
	}

	mark = srv.log.mark()
	writeFile(t, certFile, []byte("not a certificate"))
	srv.log.awaitMsg(t, mark, "certificate reload failed; keeping the current one")
	if err := handshake(srv.addr, second.pool, nil); err != nil {
		t.Fatalf("a broken certificate file took TLS down: %v", err)
	}
}

// serveCertOf starts authd serving a certificate of ca over gRPC, its
// files polled every poll, checks that a client trusting ca gets in, and
// returns it with the files' paths.
func serveCertOf(t *testing.T, ca *testCA, poll string, start func(*testing.T, string, []string, ...string) *instance) (srv *instance, certFile, keyFile string) {
	t.Helper()
	dir := t.TempDir()
	certFile, keyFile = filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
	c, k := ca.issue(t, false)
	writeFile(t, certFile, c)
	writeFile(t, keyFile, k)
	srv = start(t, t.TempDir(), []string{"AUTHD_TEST_CERT_POLL=" + poll}, "--tls-cert", certFile, "--tls-key", keyFile)
	if err := handshake(srv.addr, ca.pool, nil); err != nil {
		t.Fatalf("TLS with the first certificate: %v", err)
	}
	return srv, certFile, keyFile
}

// SIGHUP reloads the certificate at once; a broken file keeps the current
// one. The files are polled every hour here, so only the signal reloads.
func TestE2E_TLSReloadOnSIGHUP(t *testing.T) {
	t.Parallel()
	first, second := newCA(t, "first"), newCA(t, "second")
	srv, certFile, keyFile := serveCertOf(t, first, "1h", startProcess)

	writeFile(t, certFile, []byte("not a certificate"))
	mark := srv.log.mark()
	srv.cmd.Process.Signal(syscall.SIGHUP)
	srv.log.awaitMsg(t, mark, "certificate reload failed; keeping the current one")
	if err := handshake(srv.addr, first.pool, nil); err != nil {
		t.Fatalf("a broken certificate file took TLS down: %v", err)
	}

	c, k := second.issue(t, false)
	writeFile(t, keyFile, k)
	writeFile(t, certFile, c)
	mark = srv.log.mark()
	srv.cmd.Process.Signal(syscall.SIGHUP)
	srv.log.awaitMsg(t, mark, "TLS certificate reloaded")
	if err := handshake(srv.addr, second.pool, nil); err != nil {
		t.Fatalf("the new certificate is not served after SIGHUP: %v", err)
	}
}

// mutualTLSFiles writes a server certificate and key for 127.0.0.1 and a
// bundle of client CAs, for --tls-cert, --tls-key and --client-ca.
func mutualTLSFiles(t *testing.T) (server, clients *testCA, certFile, keyFile, caFile string) {
	t.Helper()
	dir := t.TempDir()
	server, clients = newCA(t, "server"), newCA(t, "clients")
	certFile, keyFile, caFile = filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key"), filepath.Join(dir, "clients.pem")
	c, k := server.issue(t, false)
	writeFile(t, certFile, c)
	writeFile(t, keyFile, k)
	writeFile(t, caFile, clients.pem)
	return server, clients, certFile, keyFile, caFile
}

func TestE2E_MutualTLS(t *testing.T) {
	t.Parallel()
	data := t.TempDir()
	server, clients, certFile, keyFile, caFile := mutualTLSFiles(t)
	addr := startServe(t, data, nil, "--tls-cert", certFile, "--tls-key", keyFile, "--client-ca", caFile).addr

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

// Over mutual TLS, IssueClientToken without a DPoP proof binds the
// service account's token to its client certificate (cnf.x5t#S256, RFC
// 8705), and so a --require-binding account gets its token; the same
// account is refused a bearer token by an authd on the same data that
// serves TLS without client certificates.
func TestE2E_MutualTLSBindsClientTokens(t *testing.T) {
	t.Parallel()
	data := t.TempDir()
	server, clients, certFile, keyFile, caFile := mutualTLSFiles(t)
	out, errOut, code := authd(t, data, "", "client", "add", "reporter", "--scope", "orders:read", "--require-binding")
	if code != 0 {
		t.Fatalf("client add: exit %d, %s", code, errOut)
	}
	id := regexp.MustCompile(`client_id: (\S+)`).FindStringSubmatch(out)[1]
	secret := regexp.MustCompile(`client_secret: (\S+)`).FindStringSubmatch(out)[1]
	mtls := startServe(t, data, nil, "--tls-cert", certFile, "--tls-key", keyFile, "--client-ca", caFile).addr
	cc, ck := clients.issue(t, true)
	cert, err := tls.X509KeyPair(cc, ck)
	if err != nil {
		t.Fatal(err)
	}
	dialTLS := func(addr string, client *tls.Certificate) authv1.AuthServiceClient {
		cfg := &tls.Config{RootCAs: server.pool, MinVersion: tls.VersionTLS12}
		if client != nil {
			cfg.Certificates = []tls.Certificate{*client}
		}
		conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(credentials.NewTLS(cfg)))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { conn.Close() })
		return authv1.NewAuthServiceClient(conn)
	}
	ctx, cancel := context.WithTimeout(bg, patience)
	defer cancel()
	resp, err := dialTLS(mtls, &cert).IssueClientToken(ctx, &authv1.IssueClientTokenRequest{ClientId: id, ClientSecret: secret})
	if err != nil {
		t.Fatal(err)
	}
	leaf, _ := x509.ParseCertificate(cert.Certificate[0])
	claims := tokenPayload(t, resp.AccessToken)
	cnf, _ := claims["cnf"].(map[string]any)
	if resp.TokenType != "Bearer" || cnf["x5t#S256"] != token.CertificateThumbprint(leaf) {
		t.Fatalf("token over mutual TLS: token_type %q, cnf %v; want Bearer bound to %s", resp.TokenType, cnf, token.CertificateThumbprint(leaf))
	}
	plain := startServe(t, data, nil, "--tls-cert", certFile, "--tls-key", keyFile).addr
	_, err = dialTLS(plain, nil).IssueClientToken(ctx, &authv1.IssueClientTokenRequest{ClientId: id, ClientSecret: secret})
	if status.Code(err) != codes.Unauthenticated || wire.Reason(err) != wire.ReasonDPoPProofRequired {
		t.Fatalf("a bearer token for a --require-binding client: %v, want DPOP_PROOF_REQUIRED", err)
	}
}
