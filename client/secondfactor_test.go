package client_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc/codes"

	"github.com/authd-dev/authd/authdtest/tokens"
	"github.com/authd-dev/authd/client"
	examplev1 "github.com/authd-dev/authd/gen/example/v1"
	"github.com/authd-dev/authd/guard"
	"github.com/authd-dev/authd/token"
	"github.com/authd-dev/authd/wire"
)

// stepUps counts Config.OnStepUpRequired's calls, keeping the last error.
type stepUps struct {
	n    atomic.Int64
	last atomic.Value
}

func (s *stepUps) config(cfg *client.Config) {
	cfg.OnStepUpRequired = func(_ context.Context, err error) {
		s.n.Add(1)
		s.last.Store(err)
	}
}

func (f *fixture) transfer() (*examplev1.TransferResponse, error) {
	return f.greeter.Transfer(bg, &examplev1.TransferRequest{Amount: 1200, To: "bob"})
}

// A call refused with STEP_UP_REQUIRED calls OnStepUpRequired once and
// nothing else: no refresh, no retry, no OnLoginRequired. StepUp with a
// code raises the session itself (same sid) and the call then succeeds;
// a wrong code changes nothing.
func TestStepUpRequired_CallsOnStepUpRequiredOnce(t *testing.T) {
	var ups stepUps
	f := newFixture(t, setup{config: ups.config})
	_, err := f.transfer()
	tokens.WantRefusal(t, err, codes.Unauthenticated, wire.ReasonStepUpRequired)
	if ups.n.Load() != 1 || wire.Reason(ups.last.Load().(error)) != wire.ReasonStepUpRequired {
		t.Fatalf("OnStepUpRequired called %d times (last %v), want once", ups.n.Load(), ups.last.Load())
	}
	if n := f.auth.refreshes.Load(); n != 0 {
		t.Fatalf("%d refreshes on STEP_UP_REQUIRED, want none", n)
	}
	if got := f.logins(); len(got) != 0 {
		t.Fatalf("OnLoginRequired calls = %v, want none", got)
	}
	before, err := f.whoAmI()
	if err != nil {
		t.Fatal(err)
	}

	secret, _ := f.authd.EnrollTOTP(t, "alice", "pw")
	held := f.client.Tokens()
	err = f.client.StepUp(bg, client.TOTPCode(f.authd.TOTPCode(t, secret))) // spent by ConfirmTOTP
	tokens.WantRefusal(t, err, codes.Unauthenticated, wire.ReasonInvalidCredentials)
	if f.client.Tokens() != held {
		t.Fatal("a refused step-up changed the tokens")
	}
	f.authd.Clock.Advance(30 * time.Second)
	if err := f.client.StepUp(bg, client.TOTPCode(f.authd.TOTPCode(t, secret))); err != nil {
		t.Fatal(err)
	}
	if got := f.client.Tokens(); got.Access == held.Access || got.Refresh != held.Refresh {
		t.Fatal("StepUp did not adopt a new access token in the same session")
	}
	if c, err := f.authd.Verifier.Verify(bg, f.client.Tokens().Access); err != nil || c.ACR != token.ACRSecondFactor || c.SessionID != before.Sid {
		t.Fatalf("stepped-up token: %+v, %v; want acr aal2 in session %s", c, err, before.Sid)
	}
	if resp, err := f.transfer(); err != nil || resp.From != "alice" {
		t.Fatalf("Transfer after StepUp = %v, %v", resp, err)
	}
	if ups.n.Load() != 1 || f.auth.refreshes.Load() != 0 {
		t.Fatalf("%d step-up callbacks, %d refreshes after StepUp", ups.n.Load(), f.auth.refreshes.Load())
	}
}

// A stream refused with STEP_UP_REQUIRED at its first Recv is not re-opened
// and calls OnStepUpRequired once; there is no refresh.
func TestStepUpRequired_Stream(t *testing.T) {
	var ups stepUps
	f := newFixture(t, setup{config: ups.config,
		methods: map[string]guard.Rule{"/example.v1.GreeterService/Ticks": {SecondFactor: true}}})
	stream, err := f.greeter.Ticks(bg, &examplev1.TicksRequest{Count: 1})
	if err != nil {
		t.Fatal(err)
	}
	_, err = stream.Recv()
	tokens.WantRefusal(t, err, codes.Unauthenticated, wire.ReasonStepUpRequired)
	if ups.n.Load() != 1 || f.auth.refreshes.Load() != 0 || len(f.logins()) != 0 {
		t.Fatalf("%d step-up callbacks, %d refreshes, %d login callbacks; want 1, 0, 0",
			ups.n.Load(), f.auth.refreshes.Load(), len(f.logins()))
	}
}

// Login of a user with a second factor keeps the tokens the client holds
// and returns ErrSecondFactorRequired; LoginSecondFactor completes it with
// a code (a wrong one keeps it pending) or a recovery code, once.
func TestLogin_SecondFactor(t *testing.T) {
	f := newFixture(t, setup{})
	secret, recovery := f.authd.EnrollTOTP(t, "bob", "pw")
	alice := f.client.Tokens()
	if err := f.client.LoginSecondFactor(bg, client.TOTPCode("123456")); !errors.Is(err, client.ErrNoLoginPending) {
		t.Fatalf("LoginSecondFactor without a login = %v, want ErrNoLoginPending", err)
	}

	if err := f.client.Login(bg, "bob", "pw"); !errors.Is(err, client.ErrSecondFactorRequired) {
		t.Fatalf("Login of an enrolled user = %v, want ErrSecondFactorRequired", err)
	}
	if f.client.Tokens() != alice {
		t.Fatal("a login awaiting its second factor replaced the tokens")
	}
	f.authd.Clock.Advance(30 * time.Second)
	err := f.client.LoginSecondFactor(bg, client.TOTPCode("000000"))
	tokens.WantRefusal(t, err, codes.Unauthenticated, wire.ReasonInvalidCredentials)
	if err := f.client.LoginSecondFactor(bg, client.TOTPCode(f.authd.TOTPCode(t, secret))); err != nil {
		t.Fatalf("LoginSecondFactor with the code after a wrong one: %v", err)
	}
	if resp, err := f.transfer(); err != nil || resp.From != "bob" {
		t.Fatalf("Transfer after LoginSecondFactor = %v, %v", resp, err)
	}
	if err := f.client.LoginSecondFactor(bg, client.TOTPCode(f.authd.TOTPCode(t, secret))); !errors.Is(err, client.ErrNoLoginPending) {
		t.Fatalf("LoginSecondFactor once more = %v, want ErrNoLoginPending", err)
	}

	if err := f.client.Login(bg, "bob", "pw"); !errors.Is(err, client.ErrSecondFactorRequired) {
		t.Fatal(err)
	}
	if err := f.client.LoginSecondFactor(bg, client.RecoveryCode(recovery[0])); err != nil {
		t.Fatalf("LoginSecondFactor with a recovery code: %v", err)
	}
	if who, err := f.whoAmI(); err != nil || who.Subject != "bob" {
		t.Fatalf("WhoAmI = %v, %v", who, err)
	}
}
