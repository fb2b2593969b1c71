package client_test

import (
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/authd-dev/authd/authdtest"
	"github.com/authd-dev/authd/authdtest/tokens"
	"github.com/authd-dev/authd/client"
	"github.com/authd-dev/authd/dpop"
	"github.com/authd-dev/authd/examples/greeter"
	examplev1 "github.com/authd-dev/authd/gen/example/v1"
	"github.com/authd-dev/authd/guard"
	"github.com/authd-dev/authd/wire"
)

// Against a real authd: a client with DPoP on logs in with a proof and
// gets tokens bound to its key (cnf.jkt) that authd and a service with a
// DPoP verifier accept only with its proofs; the same token copied
// without the key is refused, and a refresh keeps the binding.
func TestDPoP_AgainstAuthd(t *testing.T) {
	e := authdtest.New(t)
	e.AddUser(t, "alice", "correct horse")
	g := guard.New(e.Issuer.Verifier, guard.Config{
		PublicHealthAndReflection: true, Clock: e.Clock,
		DPoP: dpop.NewVerifier(dpop.Config{Clock: e.Clock}),
	})
	srv, err := greeter.NewServer(g, e.Clock)
	if err != nil {
		t.Fatal(err)
	}
	c, err := client.New(bg, e.Conn, client.Config{DPoP: true, Insecure: true, Clock: e.Clock})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Login(bg, "alice", "correct horse"); err != nil {
		t.Fatal(err)
	}
	held := c.Tokens()
	claims, err := e.Issuer.Verifier.Verify(bg, held.Access)
	if err != nil {
		t.Fatal(err)
	}
	refreshClaims, err := e.Issuer.Verifier.Verify(bg, held.Refresh)
	if err != nil {
		t.Fatal(err)
	}
	if claims.Confirmation.GetJWKThumbprint() == "" || refreshClaims.Confirmation.GetJWKThumbprint() != claims.Confirmation.GetJWKThumbprint() {
		t.Fatalf("tokens from authd: cnf %+v / %+v, want both bound to the client's key", claims.Confirmation, refreshClaims.Confirmation)
	}
	greeterClient := examplev1.NewGreeterServiceClient(tokens.Serve(t, srv, c.DialOptions()...))
	who, err := greeterClient.WhoAmI(bg, &examplev1.WhoAmIRequest{})
	if err != nil || who.Subject != "alice" {
		t.Fatalf("WhoAmI with proofs = %v, %v", who, err)
	}
	// A copy of the token, without the key.
	stolen := examplev1.NewGreeterServiceClient(tokens.Serve(t, srv))
	_, err = stolen.WhoAmI(tokens.Bearer(bg, held.Access), &examplev1.WhoAmIRequest{})
	if status.Code(err) != codes.Unauthenticated || wire.Reason(err) != wire.ReasonDPoPProofRequired {
		t.Fatalf("the token as Bearer: %v, want DPOP_PROOF_REQUIRED", err)
	}
	// Past the token's life the client refreshes with a proof: still bound.
	e.Clock.Advance(16 * time.Minute)
	if _, err := greeterClient.WhoAmI(bg, &examplev1.WhoAmIRequest{}); err != nil {
		t.Fatalf("WhoAmI after a refresh: %v", err)
	}
	after := c.Tokens()
	if after.Access == held.Access {
		t.Fatal("no refresh happened")
	}
	if ac, err := e.Issuer.Verifier.Verify(bg, after.Access); err != nil || ac.Confirmation.GetJWKThumbprint() != claims.Confirmation.GetJWKThumbprint() {
		t.Fatalf("refreshed token: %+v, %v; want bound to the same key", ac, err)
	}
}
