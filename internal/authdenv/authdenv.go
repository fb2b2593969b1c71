// Package authdenv runs a whole authd over bufconn with every part
// reachable — store, keys, session engine, accounts, Guard, service — on a
// fake clock: the harness of authd's own tests. Package authdtest is its
// public face, for services testing against authd.
package authdenv

import (
	"context"
	"log/slog"
	"net/netip"
	"path/filepath"

	"google.golang.org/grpc"

	"github.com/authd-dev/authd/accounts"
	"github.com/authd-dev/authd/authdtest/tokens"
	"github.com/authd-dev/authd/clock"
	"github.com/authd-dev/authd/dpop"
	authv1 "github.com/authd-dev/authd/gen/auth/v1"
	"github.com/authd-dev/authd/guard"
	"github.com/authd-dev/authd/keys"
	"github.com/authd-dev/authd/password"
	"github.com/authd-dev/authd/service"
	"github.com/authd-dev/authd/session"
	"github.com/authd-dev/authd/store"
	"github.com/authd-dev/authd/store/sqlite"
	"github.com/authd-dev/authd/token"
)

// Env is a running authd and its parts.
type Env struct {
	// Clock is authd's time, a fake clock at tokens.Start.
	Clock *clock.Fake
	// Issuer mints tokens with authd's own key: they verify, but their
	// sessions are unknown to authd.
	Issuer   *tokens.Issuer
	DB       *sqlite.DB    // the database
	Store    store.Store   // what the parts use: DB, or Options.Store's wrapper of it
	Keys     *keys.Keyring // nil in HS256 mode
	Signer   *keys.Signer
	Verifier *token.Verifier
	Hasher   *password.Hasher
	Sessions *session.Engine
	Accounts *accounts.Manager
	Guard    *guard.Guard
	Service  *service.Service
	Metrics  *service.Metrics
	// Conn is a client connection to authd over bufconn.
	Conn   *grpc.ClientConn
	Client authv1.AuthServiceClient
	// Logs holds authd's log lines.
	Logs *tokens.LogBuffer
}

// Options are the settings of New; the fields the harness owns (signers,
// clocks, the engine inside the accounts) are set by it.
type Options struct {
	// HS256 runs authd in HS256 mode with this secret.
	HS256 []byte
	// Hash and HashConcurrency are the argon2id settings (default
	// tokens.CheapParams, 4).
	Hash            password.Params
	HashConcurrency int
	Session         session.Config
	Accounts        accounts.Config
	TrustedProxies  []netip.Prefix
	// StrictReuse makes Session.ReuseGrace zero mean zero (a spent refresh
	// token is never accepted again) rather than the default.
	StrictReuse bool
	// Store, when set, wraps the database the parts use (fault injection).
	Store func(*sqlite.DB) store.Store
}

// New starts authd; everything is torn down with t.
func New(t tokens.TB, opts ...func(*Options)) *Env {
	t.Helper()
	o := Options{Hash: tokens.CheapParams, HashConcurrency: 4}
	for _, opt := range opts {
		opt(&o)
	}
	var topts []tokens.Option
	if o.HS256 != nil {
		topts = append(topts, tokens.WithHS256(o.HS256))
	}
	iss := tokens.New(t, topts...)
	e := &Env{Clock: iss.Clock, Issuer: iss, Keys: iss.Keys, Signer: iss.Signer, Verifier: iss.Verifier, Logs: &tokens.LogBuffer{}}
	db, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "authd.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	e.DB, e.Store = db, db
	if o.Store != nil {
		e.Store = o.Store(db)
	}
	if e.Hasher, err = password.NewHasher(o.Hash, o.HashConcurrency); err != nil {
		t.Fatal(err)
	}
	e.build(t, o)
	return e
}

// build assembles the parts over e's store, keys and clock, and serves
// them.
func (e *Env) build(t tokens.TB, o Options) {
	t.Helper()
	logger := slog.New(slog.NewTextHandler(e.Logs, nil))
	scfg := o.Session
	scfg.Signer, scfg.Clock = e.Signer, e.Clock
	if scfg.ReuseGrace == 0 && !o.StrictReuse {
		scfg.ReuseGrace = session.DefaultReuseGrace
	}
	var err error
	if e.Sessions, err = session.New(e.Store, scfg); err != nil {
		t.Fatal(err)
	}
	acfg := o.Accounts
	acfg.Sessions, acfg.Clock, acfg.Logger = e.Sessions, e.Clock, logger
	e.Accounts = accounts.New(e.Store, e.Hasher, acfg)
	// As authd's: cookies and DPoP (no nonces).
	e.Guard = guard.New(e.Verifier, guard.Config{PublicHealthAndReflection: true, Revocations: e.Sessions, Clock: e.Clock,
		DPoP:    dpop.NewVerifier(dpop.Config{Clock: e.Clock}),
		Cookies: guard.DefaultCookies()})
	var jwks service.JWKSource
	if e.Keys != nil {
		jwks = e.Keys
	}
	e.Metrics = service.NewMetrics()
	e.Service = service.New(service.Config{
		Sessions: e.Sessions, Accounts: e.Accounts, Guard: e.Guard, JWKS: jwks,
		TrustedProxies: o.TrustedProxies, Metrics: e.Metrics, Logger: logger, Clock: e.Clock,
	})
	srv, _, err := service.NewServer(e.Service)
	if err != nil {
		t.Fatal(err)
	}
	e.Conn = tokens.Serve(t, srv)
	e.Client = authv1.NewAuthServiceClient(e.Conn)
}

// Restart builds a second authd over the same database, keys and clock,
// as another instance (or this one restarted) would be: nothing cached,
// nothing in memory shared.
func (e *Env) Restart(t tokens.TB, opts ...func(*Options)) *Env {
	t.Helper()
	o := Options{}
	for _, opt := range opts {
		opt(&o)
	}
	next := &Env{Clock: e.Clock, Issuer: e.Issuer, DB: e.DB, Store: e.DB, Keys: e.Keys, Signer: e.Signer, Verifier: e.Verifier, Hasher: e.Hasher, Logs: &tokens.LogBuffer{}}
	if o.Store != nil {
		next.Store = o.Store(e.DB)
	}
	next.build(t, o)
	return next
}

// AddUser creates a user with password pw and roles, which authd puts in
// the roles claim of the user's access tokens.
func (e *Env) AddUser(t tokens.TB, name, pw string, roles ...string) {
	t.Helper()
	hash, err := e.Hasher.Hash(context.Background(), pw)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.DB.CreateUser(context.Background(), name, hash, e.Clock.Now()); err != nil {
		t.Fatal(err)
	}
	if len(roles) > 0 {
		if err := e.DB.SetRoles(context.Background(), name, roles, e.Clock.Now()); err != nil {
			t.Fatal(err)
		}
	}
}

// Login logs name in and fails the test on error.
func (e *Env) Login(t tokens.TB, name, pw string) *authv1.LoginResponse {
	t.Helper()
	resp, err := e.Client.Login(context.Background(), &authv1.LoginRequest{Username: name, Password: pw})
	if err != nil {
		t.Fatalf("Login(%s): %v", name, err)
	}
	return resp
}

// Refresh exchanges a refresh token for a new pair.
func (e *Env) Refresh(t tokens.TB, refreshToken string) *authv1.RefreshResponse {
	t.Helper()
	resp, err := e.Client.Refresh(tokens.Bearer(context.Background(), refreshToken), &authv1.RefreshRequest{})
	if err != nil {
		t.Fatalf("Refresh: %v", err)
	}
	return resp
}

// Logout ends the session of tok (an access or refresh token).
func (e *Env) Logout(t tokens.TB, tok string) {
	t.Helper()
	if _, err := e.Client.Logout(tokens.Bearer(context.Background(), tok), &authv1.LogoutRequest{}); err != nil {
		t.Fatalf("Logout: %v", err)
	}
}

// ClientToken creates the service account name, allowed scopes, and
// returns an access token authd issues it for all of them.
func (e *Env) ClientToken(t tokens.TB, name string, scopes ...string) string {
	t.Helper()
	ctx := context.Background()
	u, secret, err := e.Accounts.CreateClient(ctx, name, scopes)
	if err != nil {
		t.Fatalf("CreateClient(%s): %v", name, err)
	}
	resp, err := e.Client.IssueClientToken(ctx, &authv1.IssueClientTokenRequest{ClientId: u.ClientID, ClientSecret: secret, Scopes: scopes})
	if err != nil {
		t.Fatalf("IssueClientToken(%s): %v", name, err)
	}
	return resp.GetAccessToken()
}
