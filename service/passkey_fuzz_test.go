package service_test

import (
	"context"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/authd-dev/authd/accounts"
	"github.com/authd-dev/authd/authdtest/tokens"
	authv1 "github.com/authd-dev/authd/gen/auth/v1"
	"github.com/authd-dev/authd/internal/authdenv"
	"github.com/authd-dev/authd/wire"
)

// FuzzFinishPasskeyLogin drives the parsing and checking of an assertion
// (JSON around base64url around CBOR and clientDataJSON) with arbitrary
// bytes, each against a fresh ceremony: it never panics, and answers only
// InvalidArgument or INVALID_CREDENTIALS — never a session, never
// Internal. Its seeds (testdata/fuzz) are assertions of a software
// authenticator, a registration answer and their pieces.
func FuzzFinishPasskeyLogin(f *testing.F) {
	lenient := accounts.DefaultThrottlePolicy
	lenient.AccountAddress.Free, lenient.Address.Free, lenient.Account.Free = 1<<30, 1<<30, 1<<30
	e := authdenv.New(f, withPasskeys, func(o *authdenv.Options) { o.Accounts.Throttle = lenient })
	e.AddUser(f, "alice", "correct horse")
	a := newAuthenticator(f, rpOrigin, rpID)
	ctx := tokens.Bearer(context.Background(), e.Login(f, "alice", "correct horse").AccessToken)
	reg, err := e.Client.BeginPasskeyRegistration(ctx, &authv1.BeginPasskeyRegistrationRequest{})
	if err != nil {
		f.Fatal(err)
	}
	registration := a.Register(reg.OptionsJson)
	if _, err := e.Client.FinishPasskeyRegistration(ctx, &authv1.FinishPasskeyRegistrationRequest{CeremonyToken: reg.CeremonyToken, CredentialJson: registration}); err != nil {
		f.Fatal(err)
	}
	// An assertion for a challenge no ceremony will have: well formed, and
	// refused.
	f.Add(a.Assert(`{"publicKey":{"challenge":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"}}`))
	f.Add(registration)
	f.Add(`{"id":"","type":"public-key","response":{}}`)
	f.Fuzz(func(t *testing.T, credential string) {
		begin, err := e.Service.BeginPasskeyLogin(context.Background(), &authv1.BeginPasskeyLoginRequest{})
		if err != nil {
			t.Fatal(err)
		}
		resp, err := e.Service.FinishPasskeyLogin(context.Background(), &authv1.FinishPasskeyLoginRequest{CeremonyToken: begin.CeremonyToken, CredentialJson: credential})
		switch status.Code(err) {
		case codes.InvalidArgument:
		case codes.Unauthenticated:
			if wire.Reason(err) != wire.ReasonInvalidCredentials {
				t.Fatalf("FinishPasskeyLogin(%q): %v", credential, err)
			}
		default:
			t.Fatalf("FinishPasskeyLogin(%q) = %v, %v", credential, resp, err)
		}
	})
}
