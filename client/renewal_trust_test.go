package client_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"

	"github.com/authd-dev/authd/authdtest/tokens"
	"github.com/authd-dev/authd/keys"
	"github.com/authd-dev/authd/token"
	"github.com/authd-dev/authd/wire"
)

// forge signs claims with a key authd has never published.
func forge(t *testing.T, c token.Claims) string {
	t.Helper()
	key, err := keys.NewKey(time.Now())
	if err != nil {
		t.Fatal(err)
	}
	ring, err := keys.NewKeyring(key)
	if err != nil {
		t.Fatal(err)
	}
	signer, err := keys.NewSigner(ring, token.DefaultIssuer, []string{token.DefaultIssuer})
	if err != nil {
		t.Fatal(err)
	}
	raw, err := signer.Sign(c)
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

// A hostile or buggy service cannot poison the session: a renewal header
// whose signature does not verify against authd's published keys is
// ignored, however well its claims match, and is never saved.
func TestAdopt_OnlyRenewalsAuthdSigned(t *testing.T) {
	var header atomic.Value
	stub := &stubGreeter{who: func(ctx context.Context) error {
		return grpc.SetHeader(ctx, metadata.Pairs(wire.RenewalHeader, header.Load().(string)))
	}}
	f := newFixture(t, setup{greeter: stub})
	e := f.authd
	mine := f.client.Tokens()
	claims, err := e.Verifier.Verify(bg, mine.Access)
	if err != nil {
		t.Fatal(err)
	}
	longer := *claims
	longer.ExpiresAt = jwt.NewNumericDate(claims.Expiry().Add(time.Hour))
	header.Store(forge(t, longer)) // same user, same session, later exp: a perfect match but for the key
	if _, err := f.whoAmI(); err != nil {
		t.Fatal(err)
	}
	if f.client.Tokens() != mine {
		t.Fatal("adopted a renewal authd did not sign")
	}
	renewed := f.renewAtAuthd(t, mine.Access)
	f.handBack(t, &header, renewed)
	if got := f.client.Tokens(); got.Access != renewed {
		t.Fatal("a renewal authd signed was not adopted")
	}
}

// A token adopted from a renewal header that a service then refuses as
// TOKEN_INVALID is replaced by a refresh, and the call retried once; the
// client does not get stuck on it.
func TestAdopted_TokenInvalidRefreshesOnce(t *testing.T) {
	var renewal, refuse atomic.Value
	refuse.Store("")
	stub := &stubGreeter{who: func(ctx context.Context) error {
		md, _ := metadata.FromIncomingContext(ctx)
		if got := md.Get(wire.AuthorizationKey); len(got) == 1 && got[0] == "Bearer "+refuse.Load().(string) {
			return wire.StatusError(token.ErrInvalid)
		}
		if r, _ := renewal.Load().(string); r != "" {
			renewal.Store("")
			return grpc.SetHeader(ctx, metadata.Pairs(wire.RenewalHeader, r))
		}
		return nil
	}}
	f := newFixture(t, setup{greeter: stub})
	renewed := f.renewAtAuthd(t, f.client.Tokens().Access)
	f.handBack(t, &renewal, renewed)
	if f.client.Tokens().Access != renewed {
		t.Fatal("the renewal was not adopted")
	}
	refuse.Store(renewed)
	before := f.auth.refreshes.Load()
	if _, err := f.whoAmI(); err != nil {
		t.Fatalf("a call with the adopted token refused as invalid was not recovered: %v", err)
	}
	if n := f.auth.refreshes.Load() - before; n != 1 {
		t.Fatalf("%d refreshes, want 1", n)
	}
	if f.client.Tokens().Access == renewed {
		t.Fatal("still holding the refused token")
	}
	// A token the client got from authd itself is not retried on
	// TOKEN_INVALID: that is no renewal gone wrong.
	refuse.Store(f.client.Tokens().Access)
	before = f.auth.refreshes.Load()
	_, err := f.whoAmI()
	tokens.WantRefusal(t, err, codes.Unauthenticated, wire.ReasonTokenInvalid)
	if n := f.auth.refreshes.Load() - before; n != 0 {
		t.Fatalf("%d refreshes for a token from authd, want none", n)
	}
}
