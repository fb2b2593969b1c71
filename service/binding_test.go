package service_test

import (
	"context"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"

	"github.com/authd-dev/authd/authdtest/tokens"
	"github.com/authd-dev/authd/dpop"
	authv1 "github.com/authd-dev/authd/gen/auth/v1"
	"github.com/authd-dev/authd/internal/authdenv"
	"github.com/authd-dev/authd/wire"
)

// authority is what a client over bufconn names in :authority.
const authority = "bufnet"

// withProof is a call to method presenting tok (none: "") under scheme
// ("Bearer" or "DPoP") and, with key, a DPoP proof for it.
func withProof(t *testing.T, e *authdenv.Env, key *dpop.Key, scheme, tok, method string) context.Context {
	t.Helper()
	md := metadata.MD{}
	if tok != "" {
		md.Set(wire.AuthorizationKey, scheme+" "+tok)
	}
	if key != nil {
		p, err := key.Proof("POST", dpop.HTU("http", authority, method), tok, "", e.Clock.Now())
		if err != nil {
			t.Fatal(err)
		}
		md.Set(wire.DPoPKey, p)
	}
	return metadata.NewOutgoingContext(bg, md)
}

func newKey(t *testing.T) *dpop.Key {
	t.Helper()
	k, err := dpop.NewKey()
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// Login with a DPoP proof binds the session: its tokens carry cnf.jkt,
// are accepted only as DPoP with a proof of that key, and Refresh keeps
// the binding; a refresh token without the key is refused, and the
// refusal is no reuse (the session goes on).
func TestBinding_LoginWithAProofBindsTheSession(t *testing.T) {
	e := newEnv(t)
	key, other := newKey(t), newKey(t)
	login, err := e.Client.Login(withProof(t, e, key, "", "", authv1.AuthService_Login_FullMethodName),
		&authv1.LoginRequest{Username: "alice", Password: "correct horse"})
	if err != nil {
		t.Fatal(err)
	}
	if login.TokenType != "DPoP" {
		t.Fatalf("token_type %q, want DPoP", login.TokenType)
	}
	for _, raw := range []string{login.AccessToken, login.RefreshToken} {
		if c := claimsOf(t, e, raw); c.Confirmation.GetJWKThumbprint() != key.Thumbprint() {
			t.Fatalf("cnf %+v, want jkt %s", c.Confirmation, key.Thumbprint())
		}
	}
	renew := authv1.AuthService_Renew_FullMethodName
	_, err = e.Client.Renew(withProof(t, e, nil, "Bearer", login.AccessToken, renew), &authv1.RenewRequest{})
	tokens.WantRefusal(t, err, codes.Unauthenticated, wire.ReasonDPoPProofRequired)
	_, err = e.Client.Renew(withProof(t, e, other, "DPoP", login.AccessToken, renew), &authv1.RenewRequest{})
	tokens.WantRefusal(t, err, codes.Unauthenticated, wire.ReasonDPoPProofInvalid)
	if _, err := e.Client.Renew(withProof(t, e, key, "DPoP", login.AccessToken, renew), &authv1.RenewRequest{}); err != nil {
		t.Fatalf("Renew with the key's proof: %v", err)
	}

	refresh := authv1.AuthService_Refresh_FullMethodName
	e.Clock.Advance(time.Minute)
	_, err = e.Client.Refresh(withProof(t, e, nil, "Bearer", login.RefreshToken, refresh), &authv1.RefreshRequest{})
	tokens.WantRefusal(t, err, codes.Unauthenticated, wire.ReasonDPoPProofRequired)
	_, err = e.Client.Refresh(withProof(t, e, other, "DPoP", login.RefreshToken, refresh), &authv1.RefreshRequest{})
	tokens.WantRefusal(t, err, codes.Unauthenticated, wire.ReasonDPoPProofInvalid)
	next, err := e.Client.Refresh(withProof(t, e, key, "DPoP", login.RefreshToken, refresh), &authv1.RefreshRequest{})
	if err != nil {
		t.Fatalf("Refresh with the key's proof, after refusals without it: %v", err)
	}
	if next.TokenType != "DPoP" || claimsOf(t, e, next.AccessToken).Confirmation.GetJWKThumbprint() != key.Thumbprint() {
		t.Fatalf("refreshed: token_type %q, cnf %+v", next.TokenType, claimsOf(t, e, next.AccessToken).Confirmation)
	}
	// A proof is good once.
	replayed := withProof(t, e, key, "DPoP", next.AccessToken, renew)
	if _, err := e.Client.Renew(replayed, &authv1.RenewRequest{}); err != nil {
		t.Fatal(err)
	}
	_, err = e.Client.Renew(replayed, &authv1.RenewRequest{})
	tokens.WantRefusal(t, err, codes.Unauthenticated, wire.ReasonDPoPProofInvalid)

	// Without a proof, a login's tokens are bearer tokens, as before.
	bearer := e.Login(t, "alice", "correct horse")
	if bearer.TokenType != "Bearer" || claimsOf(t, e, bearer.AccessToken).Confirmation != nil {
		t.Fatalf("login without a proof: token_type %q", bearer.TokenType)
	}
	// A proof that does not check refuses the login before the password.
	_, err = e.Client.Login(withProof(t, e, key, "", "", authv1.AuthService_Refresh_FullMethodName),
		&authv1.LoginRequest{Username: "alice", Password: "wrong"})
	tokens.WantRefusal(t, err, codes.Unauthenticated, wire.ReasonDPoPProofInvalid)
}

// IssueClientToken with a proof binds the service account's token; one
// that must get bound tokens is refused a bearer one.
func TestBinding_ClientTokens(t *testing.T) {
	e := newEnv(t)
	c, secret, err := e.Accounts.CreateClient(bg, "reporter", []string{"orders:read"})
	if err != nil {
		t.Fatal(err)
	}
	key := newKey(t)
	method := authv1.AuthService_IssueClientToken_FullMethodName
	req := &authv1.IssueClientTokenRequest{ClientId: c.ClientID, ClientSecret: secret}
	resp, err := e.Client.IssueClientToken(withProof(t, e, key, "", "", method), req)
	if err != nil {
		t.Fatal(err)
	}
	if resp.TokenType != "DPoP" || claimsOf(t, e, resp.AccessToken).Confirmation.GetJWKThumbprint() != key.Thumbprint() {
		t.Fatalf("client token: token_type %q", resp.TokenType)
	}
	if err := e.Accounts.SetClientRequireBinding(bg, "reporter", true); err != nil {
		t.Fatal(err)
	}
	_, err = e.Client.IssueClientToken(bg, req)
	tokens.WantRefusal(t, err, codes.Unauthenticated, wire.ReasonDPoPProofRequired)
	if _, err := e.Client.IssueClientToken(withProof(t, e, key, "", "", method), req); err != nil {
		t.Fatalf("with a proof: %v", err)
	}
}
