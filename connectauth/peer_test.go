package connectauth_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"math/big"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/grpc/codes"

	"github.com/authd-dev/authd/authdtest/tokens"
	"github.com/authd-dev/authd/connectauth"
	examplev1 "github.com/authd-dev/authd/gen/example/v1"
	"github.com/authd-dev/authd/gen/example/v1/examplev1connect"
	"github.com/authd-dev/authd/guard"
	"github.com/authd-dev/authd/token"
	"github.com/authd-dev/authd/wire"
)

// clientCertificate is a new self-signed client certificate.
func clientCertificate(t *testing.T) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

// presenting is srv's client presenting cert over mutual TLS (none when
// cert is nil).
func presenting(srv *httptest.Server, cert *tls.Certificate) *http.Client {
	tr := srv.Client().Transport.(*http.Transport).Clone()
	if cert != nil {
		tr.TLSClientConfig.Certificates = []tls.Certificate{*cert}
	}
	return &http.Client{Transport: tr}
}

// A token bound to a client certificate (cnf x5t#S256) is accepted over a
// connection that presents it, through Middleware, and refused as
// TOKEN_INVALID without it, with another certificate, or without
// Middleware to hand the certificate over.
func TestPeerCertificate_BindsTheToken(t *testing.T) {
	iss := tokens.New(t)
	cert, other := clientCertificate(t), clientCertificate(t)
	sum := sha256.Sum256(cert.Certificate[0])
	c := iss.Claims(token.Access, "alice", sid)
	c.Confirmation = &token.Confirmation{CertificateThumbprint: base64.RawURLEncoding.EncodeToString(sum[:])}
	bound := iss.Sign(t, c)

	authn := connectauth.New(greeterGuard(iss, guard.Config{}))
	mutualTLS := func(s *httptest.Server) { s.TLS = &tls.Config{ClientAuth: tls.RequestClientCert} }
	_, h := greeterHandler(iss.Clock, authn)
	withMiddleware := serve(t, authn.Middleware(h), mutualTLS)
	without := serve(t, h, mutualTLS)
	for _, tc := range []struct {
		name string
		srv  *httptest.Server
		cert *tls.Certificate
		ok   bool
	}{
		{"the bound certificate", withMiddleware, &cert, true},
		{"no certificate", withMiddleware, nil, false},
		{"another certificate", withMiddleware, &other, false},
		{"the bound certificate, no Middleware", without, &cert, false},
	} {
		for _, p := range protocols {
			t.Run(tc.name+"/"+p.name, func(t *testing.T) {
				client := examplev1connect.NewGreeterServiceClient(presenting(tc.srv, tc.cert), tc.srv.URL, p.opt)
				req := connect.NewRequest(&examplev1.WhoAmIRequest{})
				req.Header().Set(wire.AuthorizationKey, "Bearer "+bound)
				who, err := client.WhoAmI(bg, req)
				if !tc.ok {
					wantRefusal(t, err, codes.Unauthenticated, wire.ReasonTokenInvalid)
					return
				}
				if err != nil || who.Msg.Subject != "alice" {
					t.Fatalf("WhoAmI = %v, %v", who, err)
				}
			})
		}
	}
}
