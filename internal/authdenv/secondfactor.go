package authdenv

import (
	"context"

	"github.com/pquerna/otp/totp"

	"github.com/authd-dev/authd/authdtest/tokens"
	authv1 "github.com/authd-dev/authd/gen/auth/v1"
)

// EnrollTOTP gives the user name (password pw) a TOTP authenticator
// through AuthService, as the user would: a password login, EnrollTOTP,
// and ConfirmTOTP with the code of authd's clock now. It returns the
// authenticator's secret and the recovery codes.
func (e *Env) EnrollTOTP(t tokens.TB, name, pw string) (secret string, recoveryCodes []string) {
	t.Helper()
	ctx := tokens.Bearer(context.Background(), e.Login(t, name, pw).GetAccessToken())
	enrol, err := e.Client.EnrollTOTP(ctx, &authv1.EnrollTOTPRequest{})
	if err != nil {
		t.Fatalf("EnrollTOTP(%s): %v", name, err)
	}
	confirmed, err := e.Client.ConfirmTOTP(ctx, &authv1.ConfirmTOTPRequest{Code: e.TOTPCode(t, enrol.GetSecret())})
	if err != nil {
		t.Fatalf("ConfirmTOTP(%s): %v", name, err)
	}
	return enrol.GetSecret(), confirmed.GetRecoveryCodes()
}

// TOTPCode is the code of the authenticator of secret now, by authd's
// clock.
func (e *Env) TOTPCode(t tokens.TB, secret string) string {
	t.Helper()
	code, err := totp.GenerateCode(secret, e.Clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	return code
}
