package authdtest

import (
	"github.com/authd-dev/authd/authdtest/tokens"
)

// Authenticator is a user's TOTP authenticator app, on authd's clock.
type Authenticator struct {
	// Secret is the base32 secret EnrollTOTP answered.
	Secret string
	// RecoveryCodes are the codes ConfirmTOTP answered, each good once.
	RecoveryCodes []string

	env *Env
}

// Code is the code the authenticator shows now, by authd's clock. authd
// accepts each 30-second step's code once (ConfirmTOTP spent the first):
// advance Clock by 30 seconds for the next.
func (a *Authenticator) Code(t tokens.TB) string {
	t.Helper()
	return a.env.env.TOTPCode(t, a.Secret)
}

// EnrollTOTP gives the user name (password pw) a TOTP authenticator as the
// user would, through AuthService: a password login, EnrollTOTP, and
// ConfirmTOTP with the authenticator's code. From then on Login of name
// answers second_factor_required, and LoginSecondFactor and StepUp take
// the authenticator's codes or its recovery codes. The session of that
// password login lives on, without a second factor.
func (e *Env) EnrollTOTP(t tokens.TB, name, pw string) *Authenticator {
	t.Helper()
	secret, recovery := e.env.EnrollTOTP(t, name, pw)
	return &Authenticator{Secret: secret, RecoveryCodes: recovery, env: e}
}
