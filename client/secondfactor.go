package client

import (
	"context"
	"errors"

	"google.golang.org/grpc"

	authv1 "github.com/authd-dev/authd/gen/auth/v1"
)

// ErrSecondFactorRequired: the password was right, but the user has a
// second factor, so authd issued no tokens yet. Login returns it wrapped;
// complete the login with LoginSecondFactor.
var ErrSecondFactorRequired = errors.New("second factor required")

// ErrNoLoginPending: LoginSecondFactor was called without a Login that
// answered ErrSecondFactorRequired since (or after it completed).
var ErrNoLoginPending = errors.New("no login awaits a second factor: log in first")

// A SecondFactor is what the user presents beside a password: a code of
// their authenticator (TOTPCode) or one of their recovery codes
// (RecoveryCode).
type SecondFactor struct {
	code, recoveryCode string
}

// TOTPCode is the 6-digit code the user's authenticator shows now.
func TOTPCode(code string) SecondFactor { return SecondFactor{code: code} }

// RecoveryCode is one of the recovery codes ConfirmTOTP returned; authd
// accepts each once.
func RecoveryCode(code string) SecondFactor { return SecondFactor{recoveryCode: code} }

// LoginSecondFactor completes the login that answered
// ErrSecondFactorRequired with the user's second factor: the client then
// holds the new session's tokens, whose access token shows the second
// factor (acr "aal2"). A wrong code returns authd's INVALID_CREDENTIALS and
// keeps the login pending, for another try until it expires (five
// minutes); a new Login replaces it.
func (c *Client) LoginSecondFactor(ctx context.Context, f SecondFactor) error {
	c.mu.Lock()
	pending := c.pending
	c.mu.Unlock()
	if pending == "" {
		return ErrNoLoginPending
	}
	var resp *authv1.LoginSecondFactorResponse
	err := callAuthd(ctx, c.prover, "", false, func(ctx context.Context, opts ...grpc.CallOption) (err error) {
		resp, err = c.auth.LoginSecondFactor(ctx, &authv1.LoginSecondFactorRequest{
			SecondFactorToken: pending, Code: f.code, RecoveryCode: f.recoveryCode,
		}, opts...)
		return err
	})
	if err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.pending == pending {
		c.pending = ""
	}
	c.save(ctx, Tokens{Access: resp.GetAccessToken(), Refresh: resp.GetRefreshToken()})
	return nil
}

// StepUp proves the user's second factor within the current session, as a
// method refused with STEP_UP_REQUIRED asks (Config.OnStepUpRequired):
// authd answers a fresh access token of the same session showing the
// second factor, which the client adopts; its refreshes keep that level.
// A wrong code returns authd's INVALID_CREDENTIALS and changes nothing.
func (c *Client) StepUp(ctx context.Context, f SecondFactor) error {
	tok, err := c.Token(ctx)
	if err != nil {
		return err
	}
	if tok == "" {
		return ErrNotLoggedIn
	}
	req := &authv1.StepUpRequest{Code: f.code, RecoveryCode: f.recoveryCode}
	var resp *authv1.StepUpResponse
	stepUp := func(tok string) error {
		return callAuthd(ctx, c.prover, tok, c.bound(tok), func(ctx context.Context, opts ...grpc.CallOption) (err error) {
			resp, err = c.auth.StepUp(ctx, req, opts...)
			return err
		})
	}
	if err := stepUp(tok); err != nil {
		// An access token that expired on the way is refreshed and the
		// step-up tried once more; the code was not looked at.
		retry, aerr := c.afterCall(ctx, tok, err)
		if retry == "" {
			return aerr
		}
		if err := stepUp(retry); err != nil {
			return err
		}
	}
	stepped, ok := parse(resp.GetAccessToken())
	if !ok {
		return errors.New("authd's StepUp answered no access token")
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.access == nil || c.access.SessionID != stepped.SessionID {
		return ErrNotLoggedIn // logged out, or into another session, meanwhile
	}
	c.save(ctx, Tokens{Access: resp.GetAccessToken(), Refresh: c.tokens.Refresh})
	return nil
}
