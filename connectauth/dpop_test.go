package connectauth_test

import (
	"errors"
	"net/http/httptest"
	"testing"

	"connectrpc.com/connect"
	"google.golang.org/grpc/codes"

	"github.com/authd-dev/authd/authdtest/tokens"
	"github.com/authd-dev/authd/connectauth"
	"github.com/authd-dev/authd/dpop"
	examplev1 "github.com/authd-dev/authd/gen/example/v1"
	"github.com/authd-dev/authd/gen/example/v1/examplev1connect"
	"github.com/authd-dev/authd/guard"
	"github.com/authd-dev/authd/token"
	"github.com/authd-dev/authd/wire"
)

const whoAmI = "/example.v1.GreeterService/WhoAmI"

// dpopGreeter serves the greeter behind a Guard taking DPoP proofs
// checked by a verifier of vcfg, with Middleware and without, and returns
// a key and an access token bound to it.
func dpopGreeter(t *testing.T, vcfg dpop.Config) (iss *tokens.Issuer, with, without *httptest.Server, key *dpop.Key, bound string) {
	t.Helper()
	iss = tokens.New(t)
	vcfg.Clock = iss.Clock
	authn := connectauth.New(greeterGuard(iss, guard.Config{DPoP: dpop.NewVerifier(vcfg)}))
	_, h := greeterHandler(iss.Clock, authn)
	with, without = serve(t, authn.Middleware(h), nil), serve(t, h, nil)
	key, err := dpop.NewKey()
	if err != nil {
		t.Fatal(err)
	}
	c := iss.Claims(token.Access, "alice", sid)
	c.Confirmation = &token.Confirmation{JWKThumbprint: key.Thumbprint()}
	return iss, with, without, key, iss.Sign(t, c)
}

// whoAmIWithProof is a WhoAmI request presenting tok as "DPoP tok" with a
// proof by key for srv's URL and nonce.
func whoAmIWithProof(t *testing.T, iss *tokens.Issuer, srv *httptest.Server, key *dpop.Key, tok, nonce string) *connect.Request[examplev1.WhoAmIRequest] {
	t.Helper()
	p, err := key.Proof("POST", srv.URL+whoAmI, tok, nonce, iss.Clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	req := connect.NewRequest(&examplev1.WhoAmIRequest{})
	req.Header().Set(wire.AuthorizationKey, wire.DPoPScheme+" "+tok)
	req.Header().Set(wire.DPoPKey, p)
	return req
}

// A token bound to a key is accepted, in every protocol, with a proof for
// the request's URL, which Middleware hands to the interceptor; as a
// bearer token, or without Middleware (no authority known), it is refused.
func TestDPoP_BoundTokenThroughConnect(t *testing.T) {
	iss, with, without, key, bound := dpopGreeter(t, dpop.Config{})
	for _, p := range protocols {
		t.Run(p.name, func(t *testing.T) {
			who, err := greeterClient(with, p.opt).WhoAmI(bg, whoAmIWithProof(t, iss, with, key, bound, ""))
			if err != nil || who.Msg.Subject != "alice" {
				t.Fatalf("with a proof: %v, %v", who, err)
			}
			req := connect.NewRequest(&examplev1.WhoAmIRequest{})
			req.Header().Set(wire.AuthorizationKey, "Bearer "+bound)
			_, err = greeterClient(with, p.opt).WhoAmI(bg, req)
			wantRefusal(t, err, codes.Unauthenticated, wire.ReasonDPoPProofRequired)
			_, err = greeterClient(without, p.opt).WhoAmI(bg, whoAmIWithProof(t, iss, without, key, bound, ""))
			wantRefusal(t, err, codes.Unauthenticated, wire.ReasonDPoPProofInvalid)
			// Middleware refuses two proofs before the body.
			two := whoAmIWithProof(t, iss, with, key, bound, "")
			two.Header().Add(wire.DPoPKey, "a.b.c")
			_, err = greeterClient(with, p.opt).WhoAmI(bg, two)
			wantRefusal(t, err, codes.Unauthenticated, wire.ReasonDPoPProofInvalid)
		})
	}
}

// DPOP_NONCE_REQUIRED carries the nonce in the dpop-nonce response
// header, in every protocol; a call with it succeeds and gets a fresh one.
func TestDPoP_NonceHeaderThroughConnect(t *testing.T) {
	iss, with, _, key, bound := dpopGreeter(t, dpop.Config{RequireNonce: true})
	for _, p := range protocols {
		t.Run(p.name, func(t *testing.T) {
			client := examplev1connect.NewGreeterServiceClient(with.Client(), with.URL, p.opt)
			_, err := client.WhoAmI(bg, whoAmIWithProof(t, iss, with, key, bound, ""))
			wantRefusal(t, err, codes.Unauthenticated, wire.ReasonDPoPNonceRequired)
			var cerr *connect.Error
			if !errors.As(err, &cerr) || cerr.Meta().Get(wire.DPoPNonceHeader) == "" {
				t.Fatalf("no dpop-nonce header with %v", err)
			}
			nonce := cerr.Meta().Get(wire.DPoPNonceHeader)
			who, err := client.WhoAmI(bg, whoAmIWithProof(t, iss, with, key, bound, nonce))
			if err != nil || who.Msg.Subject != "alice" {
				t.Fatalf("with the nonce: %v, %v", who, err)
			}
			if who.Header().Get(wire.DPoPNonceHeader) == "" {
				t.Fatal("no fresh nonce on success")
			}
		})
	}
}
