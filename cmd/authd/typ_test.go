package main

import (
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"path/filepath"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"

	"github.com/authd-dev/authd/authdtest/tokens"
	authv1 "github.com/authd-dev/authd/gen/auth/v1"
	"github.com/authd-dev/authd/keys"
	"github.com/authd-dev/authd/wire"
)

// asUntyped re-signs tok with data's signing key under the header an
// authd that did not type its tokens wrote: typ JWT.
func asUntyped(t *testing.T, data, tok string) string {
	t.Helper()
	ring, err := keys.Dir(filepath.Join(data, "keys")).Keys(context.Background())
	if err != nil || len(ring) == 0 {
		t.Fatalf("keys: %v", err)
	}
	kid := tokens.KeyID(t, tok)
	for _, k := range ring {
		if k.ID != kid {
			continue
		}
		_, payload, _ := strings.Cut(tok, ".")
		payload, _, _ = strings.Cut(payload, ".")
		in := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"EdDSA","kid":"`+kid+`","typ":"JWT"}`)) + "." + payload
		return in + "." + base64.RawURLEncoding.EncodeToString(ed25519.Sign(k.Private, []byte(in)))
	}
	t.Fatalf("no key %s", kid)
	return ""
}

// Tokens minted before authd typed them (typ JWT) are refused, signature
// and session notwithstanding; with --accept-untyped-tokens, for the
// upgrade, they are accepted, and typed ones too.
func TestE2E_UntypedTokensOnlyWithTheUpgradeFlag(t *testing.T) {
	t.Parallel()
	data := t.TempDir()
	if _, errOut, code := authd(t, data, "long enough pw\n", "user", "add", "ines", "--password-stdin"); code != 0 {
		t.Fatalf("user add: %s", errOut)
	}
	for _, tc := range []struct {
		args   []string
		wantOK bool
	}{{nil, false}, {[]string{"--accept-untyped-tokens"}, true}} {
		srv := startServe(t, data, nil, tc.args...)
		client := authv1.NewAuthServiceClient(dial(t, srv.addr))
		login, err := client.Login(context.Background(), &authv1.LoginRequest{Username: "ines", Password: "long enough pw"})
		if err != nil {
			t.Fatal(err)
		}
		old := asUntyped(t, data, login.AccessToken)
		_, err = client.Verify(context.Background(), &authv1.VerifyRequest{Token: old})
		if tc.wantOK && err != nil {
			t.Errorf("%v: an untyped token: %v", tc.args, err)
		}
		if !tc.wantOK {
			tokens.WantRefusal(t, err, codes.Unauthenticated, wire.ReasonTokenInvalid)
		}
		if _, err := client.Verify(context.Background(), &authv1.VerifyRequest{Token: login.AccessToken}); err != nil {
			t.Errorf("%v: a typed token: %v", tc.args, err)
		}
		srv.cancel()
	}
}

// While a fleet is rolled, --mint-untyped-tokens signs tokens with the
// header instances not yet upgraded require (typ JWT), and the instance
// itself accepts them (it implies --accept-untyped-tokens): a session
// opened on an upgraded instance keeps working on any instance.
func TestE2E_MintUntypedTokensForARollingUpgrade(t *testing.T) {
	t.Parallel()
	data := t.TempDir()
	if _, errOut, code := authd(t, data, "long enough pw\n", "user", "add", "ines", "--password-stdin"); code != 0 {
		t.Fatalf("user add: %s", errOut)
	}
	srv := startServe(t, data, nil, "--mint-untyped-tokens")
	client := authv1.NewAuthServiceClient(dial(t, srv.addr))
	login, err := client.Login(context.Background(), &authv1.LoginRequest{Username: "ines", Password: "long enough pw"})
	if err != nil {
		t.Fatal(err)
	}
	for name, tok := range map[string]string{"access": login.AccessToken, "refresh": login.RefreshToken} {
		head, _, _ := strings.Cut(tok, ".")
		raw, err := base64.RawURLEncoding.DecodeString(head)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(raw), `"typ":"JWT"`) {
			t.Errorf("%s token header %s: want typ JWT", name, raw)
		}
	}
	if _, err := client.Verify(context.Background(), &authv1.VerifyRequest{Token: login.AccessToken}); err != nil {
		t.Errorf("its own untyped access token: %v", err)
	}
	refreshed, err := client.Refresh(tokens.Bearer(context.Background(), login.RefreshToken), &authv1.RefreshRequest{})
	if err != nil {
		t.Fatalf("refresh with its own untyped refresh token: %v", err)
	}
	if _, err := client.Verify(context.Background(), &authv1.VerifyRequest{Token: refreshed.AccessToken}); err != nil {
		t.Errorf("the refreshed access token: %v", err)
	}
}
