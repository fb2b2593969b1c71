package service_test

import (
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"

	"github.com/authd-dev/authd/accounts"
	"github.com/authd-dev/authd/authdtest/tokens"
	authv1 "github.com/authd-dev/authd/gen/auth/v1"
	"github.com/authd-dev/authd/internal/authdenv"
	"github.com/authd-dev/authd/token"
	"github.com/authd-dev/authd/wire"
)

// The relying party of the passkey tests.
const (
	rpID     = "localhost"
	rpOrigin = "http://localhost:8081"
)

func withPasskeys(o *authdenv.Options) {
	o.Accounts.Passkeys = accounts.RelyingParty{ID: rpID, Origins: []string{rpOrigin}}
}

// newPasskeyEnv is authd with passkeys on and alice.
func newPasskeyEnv(t *testing.T, opts ...func(*authdenv.Options)) *authdenv.Env {
	return newEnv(t, append([]func(*authdenv.Options){withPasskeys}, opts...)...)
}

// registered logs alice in with her password, registers a passkey of a
// new software authenticator, and returns the authenticator.
func registered(t *testing.T, e *authdenv.Env) *authenticator {
	t.Helper()
	a := newAuthenticator(t, rpOrigin, rpID)
	ctx := tokens.Bearer(bg, e.Login(t, "alice", "correct horse").AccessToken)
	begin, err := e.Client.BeginPasskeyRegistration(ctx, &authv1.BeginPasskeyRegistrationRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if begin.ExpiresIn != 300 || !strings.Contains(begin.OptionsJson, `"residentKey":"required"`) {
		t.Fatalf("BeginPasskeyRegistration = %v", begin)
	}
	fin, err := e.Client.FinishPasskeyRegistration(ctx, &authv1.FinishPasskeyRegistrationRequest{
		CeremonyToken: begin.CeremonyToken, CredentialJson: a.Register(begin.OptionsJson), Name: "laptop"})
	if err != nil {
		t.Fatal(err)
	}
	if fin.CredentialId != b64url.EncodeToString(a.id) {
		t.Fatalf("credential_id %q, want %q", fin.CredentialId, b64url.EncodeToString(a.id))
	}
	return a
}

// passkeyLogin runs a login ceremony with a (after a password when
// secondFactorToken is set) and returns FinishPasskeyLogin's answer.
func passkeyLogin(t *testing.T, e *authdenv.Env, a *authenticator, secondFactorToken string) (*authv1.FinishPasskeyLoginResponse, error) {
	t.Helper()
	begin, err := e.Client.BeginPasskeyLogin(bg, &authv1.BeginPasskeyLoginRequest{SecondFactorToken: secondFactorToken})
	if err != nil {
		t.Fatal(err)
	}
	return e.Client.FinishPasskeyLogin(bg, &authv1.FinishPasskeyLoginRequest{CeremonyToken: begin.CeremonyToken, CredentialJson: a.Assert(begin.OptionsJson)})
}

func wantAMR(t *testing.T, e *authdenv.Env, raw, acr, amr string) *token.Claims {
	t.Helper()
	c := claimsOf(t, e, raw)
	if c.ACR != acr || strings.Join(c.AMR, " ") != amr {
		t.Fatalf("token: acr %q amr %v; want %q [%s]", c.ACR, c.AMR, acr, amr)
	}
	return c
}

// A registered passkey logs its user in without a password: with user
// verification it is two factors (aal2), without it one (aal1). The
// password alone no longer does.
func TestPasskey_RegisterThenLogInPasswordless(t *testing.T) {
	e := newPasskeyEnv(t)
	a := registered(t, e)
	if resp := e.Login(t, "alice", "correct horse"); !resp.SecondFactorRequired || resp.AccessToken != "" {
		t.Fatalf("password login with a passkey registered: %v", resp)
	}

	resp, err := passkeyLogin(t, e, a, "")
	if err != nil {
		t.Fatal(err)
	}
	c := wantAMR(t, e, resp.AccessToken, token.ACRSecondFactor, "hwk user mfa")
	if c.Subject != "alice" || !c.Fresh.Value || resp.RefreshToken == "" || resp.TokenType != "Bearer" {
		t.Fatalf("passkey login: sub %q fresh %v, %v", c.Subject, c.Fresh.Value, resp)
	}

	a.UV = false
	resp, err = passkeyLogin(t, e, a, "")
	if err != nil {
		t.Fatal(err)
	}
	wantAMR(t, e, resp.AccessToken, token.ACRPassword, "hwk")
}

// After a password, a passkey is the login's second factor; the login's
// token then is spent.
func TestPasskey_SecondFactorAfterPassword(t *testing.T) {
	e := newPasskeyEnv(t)
	a := registered(t, e)
	tok := challenge(t, e)
	resp, err := passkeyLogin(t, e, a, tok)
	if err != nil {
		t.Fatal(err)
	}
	wantAMR(t, e, resp.AccessToken, token.ACRSecondFactor, "pwd hwk mfa")
	_, err = e.Client.BeginPasskeyLogin(bg, &authv1.BeginPasskeyLoginRequest{SecondFactorToken: tok})
	tokens.WantRefusal(t, err, codes.Unauthenticated, wire.ReasonInvalidCredentials)

	// A user with no passkey is told so, after her password.
	e.AddUser(t, "bob", "correct horse")
	enrolledUser(t, e, "bob")
	resp2, err := e.Client.Login(bg, &authv1.LoginRequest{Username: "bob", Password: "correct horse"})
	if err != nil {
		t.Fatal(err)
	}
	_, err = e.Client.BeginPasskeyLogin(bg, &authv1.BeginPasskeyLoginRequest{SecondFactorToken: resp2.SecondFactorToken})
	tokens.WantRefusal(t, err, codes.FailedPrecondition, "")
}

// enrolledUser gives name a TOTP authenticator.
func enrolledUser(t *testing.T, e *authdenv.Env, name string) {
	t.Helper()
	ctx := tokens.Bearer(bg, e.Login(t, name, "correct horse").AccessToken)
	enrol, err := e.Client.EnrollTOTP(ctx, &authv1.EnrollTOTPRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.Client.ConfirmTOTP(ctx, &authv1.ConfirmTOTPRequest{Code: code(t, e, enrol.Secret)}); err != nil {
		t.Fatal(err)
	}
}

// Step-up with a passkey raises the session itself: a fresh token of the
// same sid, aal2, which a method asking for a recent second factor takes.
func TestPasskey_StepUp(t *testing.T) {
	e := newPasskeyEnv(t)
	a := registered(t, e)
	a.UV = false
	resp, err := passkeyLogin(t, e, a, "")
	if err != nil {
		t.Fatal(err)
	}
	login := wantAMR(t, e, resp.AccessToken, token.ACRPassword, "hwk")
	ctx := tokens.Bearer(bg, resp.AccessToken)
	_, err = e.Client.DisableSecondFactor(ctx, &authv1.DisableSecondFactorRequest{})
	tokens.WantRefusal(t, err, codes.Unauthenticated, wire.ReasonStepUpRequired)

	e.Clock.Advance(10 * time.Minute)
	a.UV = true
	begin, err := e.Client.BeginPasskeyStepUp(ctx, &authv1.BeginPasskeyStepUpRequest{})
	if err != nil {
		t.Fatal(err)
	}
	up, err := e.Client.FinishPasskeyStepUp(ctx, &authv1.FinishPasskeyStepUpRequest{CeremonyToken: begin.CeremonyToken, CredentialJson: a.Assert(begin.OptionsJson)})
	if err != nil {
		t.Fatal(err)
	}
	sc := wantAMR(t, e, up.AccessToken, token.ACRSecondFactor, "hwk user mfa")
	if sc.SessionID != login.SessionID || !sc.Fresh.Value || !sc.AuthenticatedAt().Equal(e.Clock.Now().Truncate(time.Second)) {
		t.Fatalf("step-up token: sid %s (want %s) fresh %v auth_time %v", sc.SessionID, login.SessionID, sc.Fresh.Value, sc.AuthenticatedAt())
	}
	off, err := e.Client.DisableSecondFactor(tokens.Bearer(bg, up.AccessToken), &authv1.DisableSecondFactorRequest{})
	if err != nil || off.Removed != 1 {
		t.Fatalf("DisableSecondFactor = %v, %v", off, err)
	}

	// Without a passkey there is nothing to step up with.
	_, err = e.Client.BeginPasskeyStepUp(tokens.Bearer(bg, up.AccessToken), &authv1.BeginPasskeyStepUpRequest{})
	tokens.WantRefusal(t, err, codes.FailedPrecondition, "")
}

// A step-up ceremony belongs to the session that began it, and a
// ceremony of one kind finishes no other.
func TestPasskey_CeremonyBoundToSessionAndKind(t *testing.T) {
	e := newPasskeyEnv(t)
	a := registered(t, e)
	first, err := passkeyLogin(t, e, a, "")
	if err != nil {
		t.Fatal(err)
	}
	second, err := passkeyLogin(t, e, a, "")
	if err != nil {
		t.Fatal(err)
	}
	begin, err := e.Client.BeginPasskeyStepUp(tokens.Bearer(bg, first.AccessToken), &authv1.BeginPasskeyStepUpRequest{})
	if err != nil {
		t.Fatal(err)
	}
	_, err = e.Client.FinishPasskeyStepUp(tokens.Bearer(bg, second.AccessToken), &authv1.FinishPasskeyStepUpRequest{CeremonyToken: begin.CeremonyToken, CredentialJson: a.Assert(begin.OptionsJson)})
	tokens.WantRefusal(t, err, codes.Unauthenticated, wire.ReasonInvalidCredentials)

	login, err := e.Client.BeginPasskeyLogin(bg, &authv1.BeginPasskeyLoginRequest{})
	if err != nil {
		t.Fatal(err)
	}
	_, err = e.Client.FinishPasskeyStepUp(tokens.Bearer(bg, first.AccessToken), &authv1.FinishPasskeyStepUpRequest{CeremonyToken: login.CeremonyToken, CredentialJson: a.Assert(login.OptionsJson)})
	tokens.WantRefusal(t, err, codes.Unauthenticated, wire.ReasonInvalidCredentials)
}

// An assertion is accepted once: replayed with its ceremony, with a new
// ceremony, or signed again by a clone whose counter did not move, it is
// refused.
func TestPasskey_ReplayedAssertionRefused(t *testing.T) {
	e := newPasskeyEnv(t)
	a := registered(t, e)
	begin, err := e.Client.BeginPasskeyLogin(bg, &authv1.BeginPasskeyLoginRequest{})
	if err != nil {
		t.Fatal(err)
	}
	req := &authv1.FinishPasskeyLoginRequest{CeremonyToken: begin.CeremonyToken, CredentialJson: a.Assert(begin.OptionsJson)}
	if _, err := e.Client.FinishPasskeyLogin(bg, req); err != nil {
		t.Fatal(err)
	}
	_, err = e.Client.FinishPasskeyLogin(bg, req)
	tokens.WantRefusal(t, err, codes.Unauthenticated, wire.ReasonInvalidCredentials)

	again, err := e.Client.BeginPasskeyLogin(bg, &authv1.BeginPasskeyLoginRequest{})
	if err != nil {
		t.Fatal(err)
	}
	_, err = e.Client.FinishPasskeyLogin(bg, &authv1.FinishPasskeyLoginRequest{CeremonyToken: again.CeremonyToken, CredentialJson: req.CredentialJson})
	tokens.WantRefusal(t, err, codes.Unauthenticated, wire.ReasonInvalidCredentials)

	// A clone: the same key, its counter behind the original's.
	a.Count -= 2
	_, err = passkeyLogin(t, e, a, "")
	tokens.WantRefusal(t, err, codes.Unauthenticated, wire.ReasonInvalidCredentials)
	a.Count += 5
	if _, err := passkeyLogin(t, e, a, ""); err != nil {
		t.Fatalf("the original, its counter ahead: %v", err)
	}
}

// The ceremony's state is in the store: another instance finishes what
// one began, once.
func TestPasskey_CeremonyFinishedByAnotherInstance(t *testing.T) {
	e := newPasskeyEnv(t)
	a := registered(t, e)
	other := e.Restart(t, withPasskeys)
	begin, err := e.Client.BeginPasskeyLogin(bg, &authv1.BeginPasskeyLoginRequest{})
	if err != nil {
		t.Fatal(err)
	}
	req := &authv1.FinishPasskeyLoginRequest{CeremonyToken: begin.CeremonyToken, CredentialJson: a.Assert(begin.OptionsJson)}
	if _, err := other.Client.FinishPasskeyLogin(bg, req); err != nil {
		t.Fatal(err)
	}
	_, err = e.Client.FinishPasskeyLogin(bg, req)
	tokens.WantRefusal(t, err, codes.Unauthenticated, wire.ReasonInvalidCredentials)
}

// A credential made for another relying party, or an answer collected on
// another origin, is refused — at registration and at login.
func TestPasskey_WrongOriginOrRelyingPartyRefused(t *testing.T) {
	e := newPasskeyEnv(t)
	ctx := tokens.Bearer(bg, e.Login(t, "alice", "correct horse").AccessToken)
	for _, bad := range []*authenticator{
		newAuthenticator(t, "http://localhost:9999", rpID),
		newAuthenticator(t, "https://evil.example", rpID),
		newAuthenticator(t, rpOrigin, "evil.example"),
	} {
		begin, err := e.Client.BeginPasskeyRegistration(ctx, &authv1.BeginPasskeyRegistrationRequest{})
		if err != nil {
			t.Fatal(err)
		}
		_, err = e.Client.FinishPasskeyRegistration(ctx, &authv1.FinishPasskeyRegistrationRequest{CeremonyToken: begin.CeremonyToken, CredentialJson: bad.Register(begin.OptionsJson)})
		tokens.WantRefusal(t, err, codes.Unauthenticated, wire.ReasonInvalidCredentials)
	}

	a := registered(t, e)
	for _, move := range []func(){
		func() { a.Origin = "https://evil.example" },
		func() { a.Origin, a.RPID = rpOrigin, "evil.example" },
	} {
		move()
		_, err := passkeyLogin(t, e, a, "")
		tokens.WantRefusal(t, err, codes.Unauthenticated, wire.ReasonInvalidCredentials)
	}
	a.Origin, a.RPID = rpOrigin, rpID
	if _, err := passkeyLogin(t, e, a, ""); err != nil {
		t.Fatalf("back home: %v", err)
	}
}

// A passkey an administrator removed (AdminService.ResetSecondFactors)
// logs no one in, nor steps anyone up; the password alone works again.
func TestPasskey_RemovedByAnAdminStopsWorking(t *testing.T) {
	w := newAdminWorld(t, withPasskeys)
	w.AddUser(t, "alice", "correct horse")
	a := registered(t, w.Env)
	resp, err := passkeyLogin(t, w.Env, a, "")
	if err != nil {
		t.Fatal(err)
	}
	begin, err := w.Client.BeginPasskeyStepUp(tokens.Bearer(bg, resp.AccessToken), &authv1.BeginPasskeyStepUpRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if n, err := w.admin.ResetSecondFactors(w.asRoot(), &authv1.ResetSecondFactorsRequest{Username: "alice"}); err != nil || n.Removed != 1 {
		t.Fatalf("ResetSecondFactors = %v, %v", n, err)
	}
	_, err = w.Client.FinishPasskeyStepUp(tokens.Bearer(bg, resp.AccessToken), &authv1.FinishPasskeyStepUpRequest{CeremonyToken: begin.CeremonyToken, CredentialJson: a.Assert(begin.OptionsJson)})
	tokens.WantRefusal(t, err, codes.Unauthenticated, wire.ReasonInvalidCredentials)
	_, err = passkeyLogin(t, w.Env, a, "")
	tokens.WantRefusal(t, err, codes.Unauthenticated, wire.ReasonInvalidCredentials)
	if login := w.Login(t, "alice", "correct horse"); login.AccessToken == "" {
		t.Fatalf("password login after the reset: %v", login)
	}
}

// Bad input is refused with a clear status and changes nothing: a
// malformed answer leaves its ceremony to be finished.
func TestPasskey_BadInput(t *testing.T) {
	e := newPasskeyEnv(t)
	a := registered(t, e)
	begin, err := e.Client.BeginPasskeyLogin(bg, &authv1.BeginPasskeyLoginRequest{})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name string
		req  *authv1.FinishPasskeyLoginRequest
		code codes.Code
	}{
		{"no ceremony", &authv1.FinishPasskeyLoginRequest{CredentialJson: "{}"}, codes.InvalidArgument},
		{"long ceremony", &authv1.FinishPasskeyLoginRequest{CeremonyToken: strings.Repeat("c", accounts.MaxCeremonyToken+1), CredentialJson: "{}"}, codes.InvalidArgument},
		{"no credential", &authv1.FinishPasskeyLoginRequest{CeremonyToken: begin.CeremonyToken}, codes.InvalidArgument},
		{"long credential", &authv1.FinishPasskeyLoginRequest{CeremonyToken: begin.CeremonyToken, CredentialJson: strings.Repeat(" ", accounts.MaxCredentialJSON+1)}, codes.InvalidArgument},
		{"not JSON", &authv1.FinishPasskeyLoginRequest{CeremonyToken: begin.CeremonyToken, CredentialJson: "{"}, codes.InvalidArgument},
		{"not a credential", &authv1.FinishPasskeyLoginRequest{CeremonyToken: begin.CeremonyToken, CredentialJson: `{"id":"x","type":"public-key"}`}, codes.InvalidArgument},
		{"unknown ceremony", &authv1.FinishPasskeyLoginRequest{CeremonyToken: "nope", CredentialJson: a.Assert(begin.OptionsJson)}, codes.Unauthenticated},
	} {
		_, err := e.Client.FinishPasskeyLogin(bg, c.req)
		tokens.WantRefusal(t, err, c.code, map[codes.Code]string{codes.Unauthenticated: wire.ReasonInvalidCredentials}[c.code])
	}
	if _, err := e.Client.FinishPasskeyLogin(bg, &authv1.FinishPasskeyLoginRequest{CeremonyToken: begin.CeremonyToken, CredentialJson: a.Assert(begin.OptionsJson)}); err != nil {
		t.Fatalf("the ceremony after bad input: %v", err)
	}

	ctx := tokens.Bearer(bg, e.Login(t, "alice", "correct horse").SecondFactorToken)
	_, err = e.Client.BeginPasskeyRegistration(ctx, &authv1.BeginPasskeyRegistrationRequest{})
	tokens.WantRefusal(t, err, codes.Unauthenticated, wire.ReasonTokenInvalid)
	_, err = e.Client.BeginPasskeyLogin(bg, &authv1.BeginPasskeyLoginRequest{SecondFactorToken: "unknown"})
	tokens.WantRefusal(t, err, codes.Unauthenticated, wire.ReasonInvalidCredentials)
}

// Registration needs a fresh token; a refresh token steps nothing up.
func TestPasskey_RegistrationNeedsAFreshToken(t *testing.T) {
	e := newPasskeyEnv(t)
	login := e.Login(t, "alice", "correct horse")
	e.Clock.Advance(time.Minute)
	refreshed := e.Refresh(t, login.RefreshToken)
	_, err := e.Client.BeginPasskeyRegistration(tokens.Bearer(bg, refreshed.AccessToken), &authv1.BeginPasskeyRegistrationRequest{})
	tokens.WantRefusal(t, err, codes.Unauthenticated, wire.ReasonFreshTokenRequired)
	_, err = e.Client.BeginPasskeyStepUp(tokens.Bearer(bg, refreshed.RefreshToken), &authv1.BeginPasskeyStepUpRequest{})
	tokens.WantRefusal(t, err, codes.Unauthenticated, wire.ReasonWrongTokenType)
}

// Without a relying party, every passkey method is FAILED_PRECONDITION.
func TestPasskey_NotConfigured(t *testing.T) {
	e := newEnv(t)
	ctx := tokens.Bearer(bg, e.Login(t, "alice", "correct horse").AccessToken)
	for name, call := range map[string]func() error{
		"BeginPasskeyRegistration": func() error {
			_, err := e.Client.BeginPasskeyRegistration(ctx, &authv1.BeginPasskeyRegistrationRequest{})
			return err
		},
		"FinishPasskeyRegistration": func() error {
			_, err := e.Client.FinishPasskeyRegistration(ctx, &authv1.FinishPasskeyRegistrationRequest{CeremonyToken: "t", CredentialJson: "{}"})
			return err
		},
		"BeginPasskeyLogin": func() error {
			_, err := e.Client.BeginPasskeyLogin(bg, &authv1.BeginPasskeyLoginRequest{})
			return err
		},
		"FinishPasskeyLogin": func() error {
			_, err := e.Client.FinishPasskeyLogin(bg, &authv1.FinishPasskeyLoginRequest{CeremonyToken: "t", CredentialJson: "{}"})
			return err
		},
		"BeginPasskeyStepUp": func() error {
			_, err := e.Client.BeginPasskeyStepUp(ctx, &authv1.BeginPasskeyStepUpRequest{})
			return err
		},
		"FinishPasskeyStepUp": func() error {
			_, err := e.Client.FinishPasskeyStepUp(ctx, &authv1.FinishPasskeyStepUpRequest{CeremonyToken: "t", CredentialJson: "{}"})
			return err
		},
	} {
		t.Run(name, func(t *testing.T) { tokens.WantRefusal(t, call(), codes.FailedPrecondition, "") })
	}
}

// Failed assertions are throttled as wrong passwords: five free per
// account and address, then refused unchecked, the right one too.
func TestPasskey_FailedAssertionsAreThrottled(t *testing.T) {
	e := newPasskeyEnv(t, func(o *authdenv.Options) { o.Accounts.Unthrottled = false })
	a := registered(t, e)
	a.Origin = "https://evil.example"
	for i := range 5 {
		_, err := passkeyLogin(t, e, a, "")
		if wire.Reason(err) != wire.ReasonInvalidCredentials {
			t.Fatalf("bad assertion %d: %v", i, err)
		}
	}
	a.Origin = rpOrigin
	_, err := passkeyLogin(t, e, a, "")
	tokens.WantRefusal(t, err, codes.ResourceExhausted, "")
	e.Clock.Advance(time.Minute)
	if _, err := passkeyLogin(t, e, a, ""); err != nil {
		t.Fatalf("after the wait: %v", err)
	}
}

// A thief holding one factor — a passkey that does not verify its user —
// cannot add a factor of their own: once the user has a second factor,
// registering a passkey or enrolling TOTP takes a token that shows one
// (STEP_UP_REQUIRED otherwise), and a TOTP step-up of such a session adds
// "otp" without making it two factors (a key and a code are both things
// the user has).
func TestPasskey_OneFactorCannotAddAnother(t *testing.T) {
	e := newPasskeyEnv(t)
	a := registered(t, e)
	a.UV = false
	resp, err := passkeyLogin(t, e, a, "")
	if err != nil {
		t.Fatal(err)
	}
	weak := tokens.Bearer(bg, resp.AccessToken)
	_, err = e.Client.BeginPasskeyRegistration(weak, &authv1.BeginPasskeyRegistrationRequest{})
	tokens.WantRefusal(t, err, codes.Unauthenticated, wire.ReasonStepUpRequired)
	_, err = e.Client.EnrollTOTP(weak, &authv1.EnrollTOTPRequest{})
	tokens.WantRefusal(t, err, codes.Unauthenticated, wire.ReasonStepUpRequired)

	a.UV = true
	strong, err := passkeyLogin(t, e, a, "")
	if err != nil {
		t.Fatal(err)
	}
	enrol, err := e.Client.EnrollTOTP(tokens.Bearer(bg, strong.AccessToken), &authv1.EnrollTOTPRequest{})
	if err != nil {
		t.Fatalf("EnrollTOTP with a two-factor token: %v", err)
	}
	if _, err := e.Client.ConfirmTOTP(tokens.Bearer(bg, strong.AccessToken), &authv1.ConfirmTOTPRequest{Code: code(t, e, enrol.Secret)}); err != nil {
		t.Fatal(err)
	}
	e.Clock.Advance(30 * time.Second)
	up, err := e.Client.StepUp(weak, &authv1.StepUpRequest{Code: code(t, e, enrol.Secret)})
	if err != nil {
		t.Fatal(err)
	}
	wantAMR(t, e, up.AccessToken, token.ACRPassword, "hwk otp")
}
