package client_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/status"

	"github.com/authd-dev/authd/authdtest/tokens"
	"github.com/authd-dev/authd/client"
	"github.com/authd-dev/authd/dpop"
	authv1 "github.com/authd-dev/authd/gen/auth/v1"
	examplev1 "github.com/authd-dev/authd/gen/example/v1"
)

// testCA is a certificate authority made for one test, issuing the
// servers' and the clients' certificates.
type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pool *x509.CertPool
}

func newTestCA(t *testing.T) *testCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "authd test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return &testCA{cert: cert, key: key, pool: pool}
}

// issue returns a certificate for name, for a server (with name as its DNS
// name) or a client.
func (ca *testCA) issue(t *testing.T, name string, usage x509.ExtKeyUsage) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	serial, err := rand.Int(rand.Reader, big.NewInt(1<<62))
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial, Subject: pkix.Name{CommonName: name}, DNSNames: []string{name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{usage},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

// server returns the TLS config of a server requiring client certificates
// of the CA.
func (ca *testCA) server(t *testing.T) *tls.Config {
	return &tls.Config{
		Certificates: []tls.Certificate{ca.issue(t, "localhost", x509.ExtKeyUsageServerAuth)},
		ClientAuth:   tls.RequireAndVerifyClientCert, ClientCAs: ca.pool, MinVersion: tls.VersionTLS13,
	}
}

// client returns the TLS config of a client presenting a certificate for
// name.
func (ca *testCA) client(t *testing.T, name string) *tls.Config {
	return &tls.Config{
		Certificates: []tls.Certificate{ca.issue(t, name, x509.ExtKeyUsageClientAuth)},
		RootCAs:      ca.pool, ServerName: "localhost", MinVersion: tls.VersionTLS13,
	}
}

// Over mutual TLS a service account's token is bound to its client
// certificate (cnf x5t#S256): nothing to sign, so it travels as a Bearer
// token, and services accept it over connections presenting the same
// certificate — dialled with the same tls.Config — and refuse it over any
// other, DPoP on or off.
func TestClientCredentials_MutualTLS(t *testing.T) {
	for _, withDPoP := range []bool{false, true} {
		t.Run(map[bool]string{false: "bearer", true: "DPoP on"}[withDPoP], func(t *testing.T) {
			ca := newTestCA(t)
			iss := tokens.New(t)
			a := &fakeAuthd{t: t, iss: iss, verifier: dpop.NewVerifier(dpop.Config{Clock: iss.Clock})}
			g := &boundGreeter{authd: a, verifier: dpop.NewVerifier(dpop.Config{Clock: iss.Clock})}
			serve := func(register func(*grpc.Server), clientTLS *tls.Config) *grpc.ClientConn {
				srv := grpc.NewServer(grpc.Creds(credentials.NewTLS(ca.server(t))))
				register(srv)
				return tokens.Serve(t, srv, grpc.WithTransportCredentials(credentials.NewTLS(clientTLS)))
			}
			reporterTLS := ca.client(t, "reporter")
			authdConn := serve(func(s *grpc.Server) { authv1.RegisterAuthServiceServer(s, a) }, reporterTLS)
			creds := client.ClientCredentials(authdConn, "reporter", "s3cret", nil,
				client.CredentialsConfig{DPoP: withDPoP, Clock: iss.Clock})
			registerGreeter := func(s *grpc.Server) { examplev1.RegisterGreeterServiceServer(s, g) }

			greeter := examplev1.NewGreeterServiceClient(serve(registerGreeter, reporterTLS))
			who, err := greeter.WhoAmI(bg, &examplev1.WhoAmIRequest{}, grpc.PerRPCCredentials(creds))
			if err != nil || who.Subject != "client:reporter" {
				t.Fatalf("WhoAmI over the same certificate = %v, %v", who, err)
			}
			call := g.calls()[0]
			tok := strings.TrimPrefix(call.authorization, "Bearer ")
			if cnf := claimsOf(t, tok).Confirmation; cnf.GetCertificateThumbprint() == "" || call.proof != "" {
				t.Fatalf("the call carried %q and proof %q, want a certificate-bound Bearer token alone", call.authorization, call.proof)
			}

			other := examplev1.NewGreeterServiceClient(serve(registerGreeter, ca.client(t, "intruder")))
			if _, err := other.WhoAmI(bg, &examplev1.WhoAmIRequest{}, grpc.PerRPCCredentials(creds)); status.Code(err) != codes.Unauthenticated {
				t.Fatalf("the token over another certificate: %v, want Unauthenticated", err)
			}
		})
	}
}

// Over TLS a proof's htu is https:// and the authority the server sees
// (here the tls.Config's ServerName, which grpc-go sends as :authority).
func TestDPoP_OverTLS(t *testing.T) {
	ca := newTestCA(t)
	w := newDPoPWorld(t, false, false)
	srv := grpc.NewServer(grpc.Creds(credentials.NewTLS(ca.server(t))))
	authv1.RegisterAuthServiceServer(srv, w.authd)
	tlsCreds := grpc.WithTransportCredentials(credentials.NewTLS(ca.client(t, "alice")))
	c, err := client.New(bg, tokens.Serve(t, srv, tlsCreds), client.Config{DPoP: true, Clock: w.authd.iss.Clock})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Login(bg, "alice", "pw"); err != nil {
		t.Fatal(err)
	}
	gs := grpc.NewServer(grpc.Creds(credentials.NewTLS(ca.server(t))))
	examplev1.RegisterGreeterServiceServer(gs, w.greeter)
	greeter := examplev1.NewGreeterServiceClient(tokens.Serve(t, gs, append(c.DialOptions(), tlsCreds)...))
	if _, err := greeter.WhoAmI(bg, &examplev1.WhoAmIRequest{}); err != nil {
		t.Fatal(err)
	}
	if htu := proofClaims(t, w.greeter.calls()[0].proof)["htu"]; htu != "https://localhost/example.v1.GreeterService/WhoAmI" {
		t.Fatalf("htu = %v", htu)
	}
}
