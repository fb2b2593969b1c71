package authdtest

import (
	"context"

	"google.golang.org/grpc"

	"github.com/authd-dev/authd/authdtest/tokens"
	"github.com/authd-dev/authd/clock"
	authv1 "github.com/authd-dev/authd/gen/auth/v1"
	"github.com/authd-dev/authd/internal/authdenv"
)

// Env is a running authd, over bufconn, on a fake clock.
type Env struct {
	// Clock is authd's time, a fake clock at tokens.Start: advance it to
	// expire tokens. Give it to the service under test too
	// (guard.Config.Clock).
	Clock *clock.Fake
	// Conn is a client connection to authd: what the service under test
	// dials authd with (protect.New), and what package client logs in
	// through.
	Conn *grpc.ClientConn
	// Issuer mints tokens with authd's own key (see package tokens): they
	// verify, but their sessions are unknown to authd, so services that
	// check revocation refuse them. Log in for tokens of a real session.
	Issuer *tokens.Issuer

	env *authdenv.Env
}

// Option configures New.
type Option func(*options)

// options are the test harness's settings that New lets a caller change.
type options = authdenv.Options

// WithHS256 runs authd in HS256 mode with secret.
func WithHS256(secret []byte) Option { return func(o *options) { o.HS256 = secret } }

// New starts authd; everything is torn down with t.
func New(t tokens.TB, opts ...Option) *Env {
	t.Helper()
	fs := make([]func(*options), len(opts))
	for i, o := range opts {
		fs[i] = o
	}
	e := authdenv.New(t, fs...)
	return &Env{Clock: e.Clock, Conn: e.Conn, Issuer: e.Issuer, env: e}
}

// Client is AuthService over Conn.
func (e *Env) Client() authv1.AuthServiceClient { return e.env.Client }

// Logs is what authd has logged so far.
func (e *Env) Logs() string { return e.env.Logs.String() }

// AddUser creates a user with password pw and roles, which authd puts in
// the roles claim of the user's access tokens.
func (e *Env) AddUser(t tokens.TB, name, pw string, roles ...string) {
	t.Helper()
	e.env.AddUser(t, name, pw, roles...)
}

// Login logs name in and fails the test on error. The response holds a
// fresh access token and a refresh token of a new session.
func (e *Env) Login(t tokens.TB, name, pw string) *authv1.LoginResponse {
	t.Helper()
	return e.env.Login(t, name, pw)
}

// Refresh exchanges a refresh token for a new pair; the new access token
// is not fresh (what a client holds after its first refresh).
func (e *Env) Refresh(t tokens.TB, refreshToken string) *authv1.RefreshResponse {
	t.Helper()
	return e.env.Refresh(t, refreshToken)
}

// Logout ends the session of tok (an access or refresh token).
func (e *Env) Logout(t tokens.TB, tok string) {
	t.Helper()
	e.env.Logout(t, tok)
}

// AddClient creates the service account name, allowed scopes, and
// returns its client id and secret, for code under test that gets its
// own tokens (client.ClientCredentials).
func (e *Env) AddClient(t tokens.TB, name string, scopes ...string) (clientID, secret string) {
	t.Helper()
	c, secret, err := e.env.Accounts.CreateClient(context.Background(), name, scopes)
	if err != nil {
		t.Fatalf("add client %s: %v", name, err)
	}
	return c.ClientID, secret
}

// ClientToken creates the service account name, allowed scopes, and
// returns an access token authd issues it for all of them
// (IssueClientToken): subject "client:"+name, the scope claim, a session of
// its own.
func (e *Env) ClientToken(t tokens.TB, name string, scopes ...string) string {
	t.Helper()
	return e.env.ClientToken(t, name, scopes...)
}
