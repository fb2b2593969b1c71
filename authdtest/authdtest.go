package authdtest

import (
	"context"
	"log/slog"
	"path/filepath"

	"google.golang.org/grpc"

	"github.com/authd-dev/authd/clock"
	authv1 "github.com/authd-dev/authd/gen/auth/v1"
	"github.com/authd-dev/authd/authdtest/tokens"
	"github.com/authd-dev/authd/password"
	"github.com/authd-dev/authd/revocation"
	"github.com/authd-dev/authd/service"
	"github.com/authd-dev/authd/store/sqlite"
	"github.com/authd-dev/authd/token"
)

// Env is a running authd.
type Env struct {
	Clock    *clock.Fake
	Store    *sqlite.DB
	Keys     *token.Keyring // nil in HS256 mode
	Signer   *token.Signer
	Verifier *token.Verifier
	// Revocations is authd's cached revocation check.
	Revocations *revocation.Cache
	Hasher      *password.Hasher
	Service     *service.Service
	Conn        *grpc.ClientConn
	Client      authv1.AuthServiceClient
	Logs        *LogBuffer
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
	e := &Env{Clock: iss.Clock, Keys: iss.Keys, Signer: iss.Signer, Verifier: iss.Verifier, Logs: &LogBuffer{}}
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

// AddUser creates a user with password pw.
func (e *Env) AddUser(t TB, name, pw string) {
	t.Helper()
	hash, err := e.Hasher.Hash(context.Background(), pw)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.Store.CreateUser(context.Background(), name, hash, e.Clock.Now()); err != nil {
		t.Fatal(err)
	}
}

// Login logs name in and fails the test on error.
func (e *Env) Login(t TB, name, pw string) *authv1.LoginResponse {
	t.Helper()
	resp, err := e.Client.Login(context.Background(), &authv1.LoginRequest{Username: name, Password: pw})
	if err != nil {
		t.Fatalf("Login(%s): %v", name, err)
	}
	return resp
}
