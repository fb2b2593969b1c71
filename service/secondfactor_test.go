package service_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/pquerna/otp/totp"
	"google.golang.org/grpc/codes"

	"github.com/authd-dev/authd/authdtest/tokens"
	authv1 "github.com/authd-dev/authd/gen/auth/v1"
	"github.com/authd-dev/authd/internal/authdenv"
	"github.com/authd-dev/authd/token"
	"github.com/authd-dev/authd/wire"
)

// enrolled logs alice in, enrols and confirms a TOTP authenticator, and
// returns its secret and the recovery codes.
func enrolled(t *testing.T, e *authdenv.Env) (secret string, recovery []string) {
	t.Helper()
	login := e.Login(t, "alice", "correct horse")
	ctx := tokens.Bearer(bg, login.AccessToken)
	enrol, err := e.Client.EnrollTOTP(ctx, &authv1.EnrollTOTPRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(enrol.Uri, "otpauth://totp/authd:alice?") || !strings.Contains(enrol.Uri, "secret="+enrol.Secret) {
		t.Fatalf("EnrollTOTP uri %q", enrol.Uri)
	}
	_, err = e.Client.ConfirmTOTP(ctx, &authv1.ConfirmTOTPRequest{Code: "000000"})
	tokens.WantRefusal(t, err, codes.Unauthenticated, wire.ReasonInvalidCredentials)
	confirmed, err := e.Client.ConfirmTOTP(ctx, &authv1.ConfirmTOTPRequest{Code: code(t, e, enrol.Secret)})
	if err != nil {
		t.Fatal(err)
	}
	if len(confirmed.RecoveryCodes) < 8 {
		t.Fatalf("%d recovery codes, want at least 8", len(confirmed.RecoveryCodes))
	}
	// Once the user has a factor, adding or confirming one takes a token
	// that shows one: this login's does not.
	_, err = e.Client.ConfirmTOTP(ctx, &authv1.ConfirmTOTPRequest{Code: code(t, e, enrol.Secret)})
	tokens.WantRefusal(t, err, codes.Unauthenticated, wire.ReasonStepUpRequired)
	_, err = e.Client.EnrollTOTP(ctx, &authv1.EnrollTOTPRequest{})
	tokens.WantRefusal(t, err, codes.Unauthenticated, wire.ReasonStepUpRequired)
	return enrol.Secret, confirmed.RecoveryCodes
}

// code is the authenticator's code now.
func code(t *testing.T, e *authdenv.Env, secret string) string {
	t.Helper()
	c, err := totp.GenerateCode(secret, e.Clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func claimsOf(t *testing.T, e *authdenv.Env, raw string) *token.Claims {
	t.Helper()
	c, err := e.Verifier.Verify(bg, raw)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// challenge logs alice in with her password and returns the
// second_factor_token of the answer, which carries no token.
func challenge(t *testing.T, e *authdenv.Env) string {
	t.Helper()
	resp, err := e.Client.Login(bg, &authv1.LoginRequest{Username: "alice", Password: "correct horse"})
	if err != nil {
		t.Fatal(err)
	}
	if !resp.SecondFactorRequired || resp.SecondFactorToken == "" || resp.AccessToken != "" || resp.RefreshToken != "" || resp.SecondFactorExpiresIn != 300 {
		t.Fatalf("Login of an enrolled user = %v", resp)
	}
	return resp.SecondFactorToken
}

func TestSecondFactor_EnrolLoginReplayAndRecovery(t *testing.T) {
	e := newEnv(t)
	secret, recovery := enrolled(t, e)
	e.Clock.Advance(30 * time.Second) // the confirmation's step is spent

	tok := challenge(t, e)
	_, err := e.Client.LoginSecondFactor(bg, &authv1.LoginSecondFactorRequest{SecondFactorToken: tok, Code: "123456"})
	tokens.WantRefusal(t, err, codes.Unauthenticated, wire.ReasonInvalidCredentials)
	good := code(t, e, secret)
	resp, err := e.Client.LoginSecondFactor(bg, &authv1.LoginSecondFactorRequest{SecondFactorToken: tok, Code: good})
	if err != nil {
		t.Fatal(err)
	}
	c := claimsOf(t, e, resp.AccessToken)
	if c.ACR != token.ACRSecondFactor || strings.Join(c.AMR, " ") != "pwd otp mfa" || !c.Fresh.Value {
		t.Fatalf("access token after the second factor: acr %q amr %v fresh %v", c.ACR, c.AMR, c.Fresh.Value)
	}
	// With a token that shows it, a second enrolment is refused as such.
	_, err = e.Client.EnrollTOTP(tokens.Bearer(bg, resp.AccessToken), &authv1.EnrollTOTPRequest{})
	tokens.WantRefusal(t, err, codes.FailedPrecondition, "")
	_, err = e.Client.ConfirmTOTP(tokens.Bearer(bg, resp.AccessToken), &authv1.ConfirmTOTPRequest{Code: code(t, e, secret)})
	tokens.WantRefusal(t, err, codes.FailedPrecondition, "")
	// The token works once; the code works once.
	_, err = e.Client.LoginSecondFactor(bg, &authv1.LoginSecondFactorRequest{SecondFactorToken: tok, Code: good})
	tokens.WantRefusal(t, err, codes.Unauthenticated, wire.ReasonInvalidCredentials)
	_, err = e.Client.LoginSecondFactor(bg, &authv1.LoginSecondFactorRequest{SecondFactorToken: challenge(t, e), Code: good})
	tokens.WantRefusal(t, err, codes.Unauthenticated, wire.ReasonInvalidCredentials)

	// A recovery code, typed loosely, works once.
	loose := strings.ToUpper(strings.ReplaceAll(recovery[0], "-", " "))
	if _, err := e.Client.LoginSecondFactor(bg, &authv1.LoginSecondFactorRequest{SecondFactorToken: challenge(t, e), RecoveryCode: loose}); err != nil {
		t.Fatalf("recovery code: %v", err)
	}
	_, err = e.Client.LoginSecondFactor(bg, &authv1.LoginSecondFactorRequest{SecondFactorToken: challenge(t, e), RecoveryCode: recovery[0]})
	tokens.WantRefusal(t, err, codes.Unauthenticated, wire.ReasonInvalidCredentials)

	// A challenge expires.
	late := challenge(t, e)
	e.Clock.Advance(5*time.Minute + time.Second)
	_, err = e.Client.LoginSecondFactor(bg, &authv1.LoginSecondFactorRequest{SecondFactorToken: late, Code: code(t, e, secret)})
	tokens.WantRefusal(t, err, codes.Unauthenticated, wire.ReasonInvalidCredentials)
}

func TestSecondFactor_StepUpRaisesTheSessionItself(t *testing.T) {
	e := newEnv(t)
	e.AddUser(t, "bob", "correct horse")
	secret, _ := enrolled(t, e)
	e.Clock.Advance(30 * time.Second)
	resp, err := e.Client.LoginSecondFactor(bg, &authv1.LoginSecondFactorRequest{SecondFactorToken: challenge(t, e), Code: code(t, e, secret)})
	if err != nil {
		t.Fatal(err)
	}
	login := claimsOf(t, e, resp.AccessToken)

	e.Clock.Advance(20 * time.Minute)
	refreshed := e.Refresh(t, resp.RefreshToken)
	rc := claimsOf(t, e, refreshed.AccessToken)
	if rc.ACR != token.ACRSecondFactor || rc.Fresh.Value || !rc.AuthenticatedAt().Equal(login.AuthenticatedAt()) {
		t.Fatalf("refreshed: acr %q fresh %v auth_time %v; want the session's level, not fresh, the login's auth_time", rc.ACR, rc.Fresh.Value, rc.AuthenticatedAt())
	}
	_, err = e.Client.StepUp(tokens.Bearer(bg, refreshed.RefreshToken), &authv1.StepUpRequest{Code: code(t, e, secret)})
	tokens.WantRefusal(t, err, codes.Unauthenticated, wire.ReasonWrongTokenType)
	_, err = e.Client.StepUp(tokens.Bearer(bg, refreshed.AccessToken), &authv1.StepUpRequest{Code: "12345"})
	tokens.WantRefusal(t, err, codes.InvalidArgument, "")

	up, err := e.Client.StepUp(tokens.Bearer(bg, refreshed.AccessToken), &authv1.StepUpRequest{Code: code(t, e, secret)})
	if err != nil {
		t.Fatal(err)
	}
	sc := claimsOf(t, e, up.AccessToken)
	if sc.SessionID != login.SessionID || !sc.Fresh.Value || !sc.AuthenticatedAt().Equal(e.Clock.Now().Truncate(time.Second)) || sc.ACR != token.ACRSecondFactor {
		t.Fatalf("step-up token: sid %s (want %s) fresh %v auth_time %v acr %q", sc.SessionID, login.SessionID, sc.Fresh.Value, sc.AuthenticatedAt(), sc.ACR)
	}
	// The session keeps what was proven: its next refresh carries the new
	// auth_time.
	again := e.Refresh(t, refreshed.RefreshToken)
	if ac := claimsOf(t, e, again.AccessToken); !ac.AuthenticatedAt().Equal(sc.AuthenticatedAt()) {
		t.Fatalf("refresh after step-up: auth_time %v, want %v", ac.AuthenticatedAt(), sc.AuthenticatedAt())
	}

	// A user without a second factor cannot step up; her login is one step.
	bob := e.Login(t, "bob", "correct horse")
	if bc := claimsOf(t, e, bob.AccessToken); bc.ACR != token.ACRPassword || strings.Join(bc.AMR, " ") != "pwd" {
		t.Fatalf("password login: acr %q amr %v", bc.ACR, bc.AMR)
	}
	_, err = e.Client.StepUp(tokens.Bearer(bg, bob.AccessToken), &authv1.StepUpRequest{Code: "123456"})
	tokens.WantRefusal(t, err, codes.FailedPrecondition, "")
}

func TestSecondFactor_DisableNeedsARecentSecondFactor(t *testing.T) {
	e := newEnv(t)
	secret, _ := enrolled(t, e)
	e.Clock.Advance(30 * time.Second)
	resp, err := e.Client.LoginSecondFactor(bg, &authv1.LoginSecondFactorRequest{SecondFactorToken: challenge(t, e), Code: code(t, e, secret)})
	if err != nil {
		t.Fatal(err)
	}
	e.Clock.Advance(6 * time.Minute)
	_, err = e.Client.DisableSecondFactor(tokens.Bearer(bg, resp.AccessToken), &authv1.DisableSecondFactorRequest{})
	tokens.WantRefusal(t, err, codes.Unauthenticated, wire.ReasonStepUpRequired)
	up, err := e.Client.StepUp(tokens.Bearer(bg, resp.AccessToken), &authv1.StepUpRequest{Code: code(t, e, secret)})
	if err != nil {
		t.Fatal(err)
	}
	off, err := e.Client.DisableSecondFactor(tokens.Bearer(bg, up.AccessToken), &authv1.DisableSecondFactorRequest{})
	if err != nil || off.Removed != 1 {
		t.Fatalf("DisableSecondFactor = %v, %v", off, err)
	}
	if login := e.Login(t, "alice", "correct horse"); login.AccessToken == "" || login.SecondFactorRequired {
		t.Fatalf("login after disabling: %v", login)
	}
}

// Wrong codes are throttled as wrong passwords are: five free per account
// and address, then refused unchecked.
func TestSecondFactor_WrongCodesAreThrottled(t *testing.T) {
	e := newEnv(t, func(o *authdenv.Options) { o.Accounts.Unthrottled = false })
	secret, _ := enrolled(t, e)
	e.Clock.Advance(30 * time.Second)
	tok := challenge(t, e)
	for i := range 5 {
		_, err := e.Client.LoginSecondFactor(bg, &authv1.LoginSecondFactorRequest{SecondFactorToken: tok, Code: "000000"})
		if wire.Reason(err) != wire.ReasonInvalidCredentials {
			t.Fatalf("wrong code %d: %v", i, err)
		}
	}
	_, err := e.Client.LoginSecondFactor(bg, &authv1.LoginSecondFactorRequest{SecondFactorToken: tok, Code: code(t, e, secret)})
	tokens.WantRefusal(t, err, codes.ResourceExhausted, "")
}

func TestSecondFactor_BadInput(t *testing.T) {
	e := newEnv(t)
	enrolled(t, e)
	tok := challenge(t, e)
	for _, req := range []*authv1.LoginSecondFactorRequest{
		{SecondFactorToken: tok},
		{SecondFactorToken: tok, Code: "123456", RecoveryCode: "aaaa-bbbb-cccc-dddd"},
		{SecondFactorToken: tok, Code: "12345"},
		{SecondFactorToken: tok, Code: "12345a"},
		{SecondFactorToken: tok, RecoveryCode: "not a code"},
		{Code: "123456"},
		{SecondFactorToken: strings.Repeat("x", 200), Code: "123456"},
	} {
		_, err := e.Client.LoginSecondFactor(context.Background(), req)
		tokens.WantRefusal(t, err, codes.InvalidArgument, "")
	}
	_, err := e.Client.LoginSecondFactor(bg, &authv1.LoginSecondFactorRequest{SecondFactorToken: "unknown", Code: "123456"})
	tokens.WantRefusal(t, err, codes.Unauthenticated, wire.ReasonInvalidCredentials)
	// Enrolment needs a fresh token, and a person.
	e.AddUser(t, "bob", "correct horse")
	refreshed := e.Refresh(t, e.Login(t, "bob", "correct horse").RefreshToken)
	_, err = e.Client.EnrollTOTP(tokens.Bearer(bg, refreshed.AccessToken), &authv1.EnrollTOTPRequest{})
	tokens.WantRefusal(t, err, codes.Unauthenticated, wire.ReasonFreshTokenRequired)
	_, err = e.Client.ConfirmTOTP(tokens.Bearer(bg, e.Login(t, "bob", "correct horse").AccessToken), &authv1.ConfirmTOTPRequest{Code: "123456"})
	tokens.WantRefusal(t, err, codes.FailedPrecondition, "")
}

// A second_factor_token is its user's: another user's code or recovery
// code does not complete it, and the login it stands for can still be
// completed by its own user.
func TestSecondFactor_TokenOfAnotherUser(t *testing.T) {
	e := newEnv(t)
	e.AddUser(t, "bob", "correct horse")
	aliceSecret, _ := enrolled(t, e)
	bobSecret, bobRecovery := e.EnrollTOTP(t, "bob", "correct horse")
	e.Clock.Advance(30 * time.Second)
	alices := challenge(t, e)
	for _, proof := range []*authv1.LoginSecondFactorRequest{
		{SecondFactorToken: alices, Code: code(t, e, bobSecret)},
		{SecondFactorToken: alices, RecoveryCode: bobRecovery[0]},
	} {
		_, err := e.Client.LoginSecondFactor(bg, proof)
		tokens.WantRefusal(t, err, codes.Unauthenticated, wire.ReasonInvalidCredentials)
	}
	resp, err := e.Client.LoginSecondFactor(bg, &authv1.LoginSecondFactorRequest{SecondFactorToken: alices, Code: code(t, e, aliceSecret)})
	if err != nil || claimsOf(t, e, resp.AccessToken).Subject != "alice" {
		t.Fatalf("alice's own code = %v, %v", resp, err)
	}
	// Bob's recovery code was not spent by the attempt on alice's login.
	if left, err := e.Accounts.RecoveryCodesLeft(bg, "bob"); err != nil || left != len(bobRecovery) {
		t.Fatalf("bob's recovery codes left: %d, %v; want %d", left, err, len(bobRecovery))
	}
}
