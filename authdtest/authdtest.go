package authdtest

import (
	"context"
	"log/slog"
	"path/filepath"

	"google.golang.org/grpc"

	"github.com/authd-dev/authd/accounts"
	"github.com/authd-dev/authd/authdtest/tokens"
	"github.com/authd-dev/authd/clock"
	authv1 "github.com/authd-dev/authd/gen/auth/v1"
	"github.com/authd-dev/authd/password"
	"github.com/authd-dev/authd/revocation"
	"github.com/authd-dev/authd/service"
	"github.com/authd-dev/authd/store/sqlite"
	"github.com/authd-dev/authd/token"
)

// Env is a running authd. Its fields are the parts a test may reach into;
// Conn is what the service under test dials authd with.
type Env struct {
	// Clock is authd's time, a fake clock at Start: advance it to expire
	// tokens. Give it to the service under test too (protect.WithClock).
	Clock *clock.Fake
	// Issuer mints tokens with authd's own key (see package tokens): they
	// verify, but their sessions are unknown to authd, so services that
	// check revocation refuse them. Log in for tokens of a real session.
	Issuer   *tokens.Issuer
	Store    *sqlite.DB
	Keys     *token.Keyring // nil in HS256 mode
	Signer   *token.Signer
	Verifier *token.Verifier
	// Revocations is authd's cached revocation check.
	Revocations *revocation.Cache
	Hasher      *password.Hasher
	// Accounts manages users and service accounts as authd's CLI does.
	Accounts *accounts.Manager
	Service  *service.Service
	// Conn is a client connection to authd over bufconn.
	Conn   *grpc.ClientConn
	Client authv1.AuthServiceClient
	// Logs holds authd's log lines.
	Logs *LogBuffer
}

type options struct {
	tokens      []tokens.Option
	service     []service.Option
	hashParams  password.Params
	hashWorkers int
}

// Option configures New.
type Option func(*options)

// WithHS256 runs authd in HS256 mode with secret.
func WithHS256(secret []byte) Option {
	return func(o *options) { o.tokens = append(o.tokens, tokens.WithHS256(secret)) }
}

// WithHashing sets the argon2id parameters and concurrency (default
// CheapParams, 4).
func WithHashing(p password.Params, concurrency int) Option {
	return func(o *options) { o.hashParams, o.hashWorkers = p, concurrency }
}

// WithServiceOptions passes options to service.New.
func WithServiceOptions(opts ...service.Option) Option {
	return func(o *options) { o.service = append(o.service, opts...) }
}

// New starts authd; everything is torn down with t.
func New(t TB, opts ...Option) *Env {
	t.Helper()
	o := options{hashParams: CheapParams, hashWorkers: 4}
	for _, opt := range opts {
		opt(&o)
	}
	ctx := context.Background()
	iss := tokens.New(t, o.tokens...)
	e := &Env{Clock: iss.Clock, Issuer: iss, Keys: iss.Keys, Signer: iss.Signer, Verifier: iss.Verifier, Logs: &LogBuffer{}}
	logger := slog.New(slog.NewTextHandler(e.Logs, nil))

	db, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "authd.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	e.Store = db

	if e.Hasher, err = password.NewHasher(o.hashParams, o.hashWorkers); err != nil {
		t.Fatal(err)
	}
	e.Accounts = accounts.New(db, e.Hasher, accounts.WithClock(e.Clock))
	svcOpts := []service.Option{service.WithClock(e.Clock), service.WithLogger(logger)}
	if e.Keys != nil {
		svcOpts = append(svcOpts, service.WithJWKS(e.Keys))
	}
	svc, err := service.New(db, e.Signer, e.Verifier, e.Hasher, append(svcOpts, o.service...)...)
	if err != nil {
		t.Fatal(err)
	}
	e.Service, e.Revocations = svc, svc.Revocations()
	srv, _, err := service.NewServer(svc)
	if err != nil {
		t.Fatal(err)
	}
	e.Conn = Serve(t, srv)
	e.Client = authv1.NewAuthServiceClient(e.Conn)
	return e
}

// AddUser creates a user with password pw and roles, which authd puts in
// the roles claim of the user's access tokens.
func (e *Env) AddUser(t TB, name, pw string, roles ...string) {
	t.Helper()
	hash, err := e.Hasher.Hash(context.Background(), pw)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.Store.CreateUser(context.Background(), name, hash, e.Clock.Now()); err != nil {
		t.Fatal(err)
	}
	if len(roles) > 0 {
		if err := e.Store.SetRoles(context.Background(), name, roles, e.Clock.Now()); err != nil {
			t.Fatal(err)
		}
	}
}

// Login logs name in and fails the test on error. The response holds a
// fresh access token and a refresh token of a new session.
func (e *Env) Login(t TB, name, pw string) *authv1.LoginResponse {
	t.Helper()
	resp, err := e.Client.Login(context.Background(), &authv1.LoginRequest{Username: name, Password: pw})
	if err != nil {
		t.Fatalf("Login(%s): %v", name, err)
	}
	return resp
}

// Refresh exchanges a refresh token for a new pair; the new access token
// is not fresh (what a client holds after its first refresh).
func (e *Env) Refresh(t TB, refreshToken string) *authv1.RefreshResponse {
	t.Helper()
	resp, err := e.Client.Refresh(Bearer(context.Background(), refreshToken), &authv1.RefreshRequest{})
	if err != nil {
		t.Fatalf("Refresh: %v", err)
	}
	return resp
}

// Logout ends the session of tok (an access or refresh token).
func (e *Env) Logout(t TB, tok string) {
	t.Helper()
	if _, err := e.Client.Logout(Bearer(context.Background(), tok), &authv1.LogoutRequest{}); err != nil {
		t.Fatalf("Logout: %v", err)
	}
}

// ClientToken creates the service account name, allowed scopes, and
// returns an access token authd issues it for all of them
// (IssueClientToken): subject "client:"+name, the scope claim, a session of
// its own.
func (e *Env) ClientToken(t TB, name string, scopes ...string) string {
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
