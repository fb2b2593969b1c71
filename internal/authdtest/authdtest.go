// Package authdtest starts a complete authd (SQLite store, Ed25519 or HS256
// keys, fake clock, interceptors) over bufconn for tests of every package.
package authdtest

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/test/bufconn"

	"github.com/authd-dev/authd/clock"
	authv1 "github.com/authd-dev/authd/gen/auth/v1"
	"github.com/authd-dev/authd/password"
	"github.com/authd-dev/authd/revocation"
	"github.com/authd-dev/authd/service"
	"github.com/authd-dev/authd/store/sqlite"
	"github.com/authd-dev/authd/token"
	"github.com/authd-dev/authd/wire"
)

// Start is the fake clock's starting time.
var Start = time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)

// CheapParams make argon2id fast enough for tests.
var CheapParams = password.Params{Memory: 64, Iterations: 1, Parallelism: 1, SaltLength: 16, KeyLength: 32}

// TB is what authdtest needs of a test: testing.TB has it, and so has
// Harness, for examples that have no *testing.T.
type TB interface {
	Helper()
	Cleanup(func())
	TempDir() string
	Fatal(args ...any)
	Fatalf(format string, args ...any)
}

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
	hmacSecret  []byte
	service     []service.Option
	hashParams  password.Params
	hashWorkers int
}

// Option configures New.
type Option func(*options)

// WithHS256 runs authd in HS256 mode with secret.
func WithHS256(secret []byte) Option { return func(o *options) { o.hmacSecret = secret } }

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
	e := &Env{Clock: clock.NewFake(Start), Logs: &LogBuffer{}}
	logger := slog.New(slog.NewTextHandler(e.Logs, nil))

	db, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "authd.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	e.Store = db

	var keys interface {
		token.KeySource
		token.SigningKey
	}
	if o.hmacSecret != nil {
		if keys, err = token.NewHMACKey(o.hmacSecret); err != nil {
			t.Fatal(err)
		}
	} else {
		key, err := token.NewKey(Start)
		if err != nil {
			t.Fatal(err)
		}
		if e.Keys, err = token.NewKeyring(key); err != nil {
			t.Fatal(err)
		}
		keys = e.Keys
	}
	if e.Signer, err = token.NewSigner(keys, token.DefaultIssuer, []string{token.DefaultIssuer}); err != nil {
		t.Fatal(err)
	}
	if e.Verifier, err = token.NewVerifier(keys, token.WithClock(e.Clock)); err != nil {
		t.Fatal(err)
	}
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

// Serve serves srv on a bufconn listener and returns a client connection to
// it; both are closed with t.
func Serve(t TB, srv *grpc.Server, dialOpts ...grpc.DialOption) *grpc.ClientConn {
	t.Helper()
	lis := bufconn.Listen(1 << 20)
	go srv.Serve(lis)
	t.Cleanup(srv.Stop)
	dialOpts = append([]grpc.DialOption{
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return lis.DialContext(ctx) }),
		grpc.WithTransportCredentials(insecure.NewCredentials()),
	}, dialOpts...)
	conn, err := grpc.NewClient("passthrough:///bufnet", dialOpts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
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

// Bearer returns ctx with an outgoing `authorization: Bearer tok`.
func Bearer(ctx context.Context, tok string) context.Context {
	return metadata.AppendToOutgoingContext(ctx, wire.AuthorizationKey, "Bearer "+tok)
}

// LogBuffer collects log output safely across goroutines.
type LogBuffer struct {
	mu  sync.Mutex
	buf []byte
}

var _ io.Writer = (*LogBuffer)(nil)

// Write appends p.
func (b *LogBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf = append(b.buf, p...)
	return len(p), nil
}

// String returns everything written.
func (b *LogBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return string(b.buf)
}

// Harness is a TB for examples: Fatal panics, Close runs the cleanups.
type Harness struct {
	mu       sync.Mutex
	cleanups []func()
}

// Helper does nothing.
func (h *Harness) Helper() {}

// Cleanup registers f to run at Close.
func (h *Harness) Cleanup(f func()) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.cleanups = append(h.cleanups, f)
}

// TempDir creates a directory removed at Close.
func (h *Harness) TempDir() string {
	dir, err := os.MkdirTemp("", "authdtest-")
	if err != nil {
		panic(err)
	}
	h.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

// Fatal panics with args.
func (h *Harness) Fatal(args ...any) { panic(fmt.Sprint(args...)) }

// Fatalf panics with the formatted message.
func (h *Harness) Fatalf(format string, args ...any) { panic(fmt.Sprintf(format, args...)) }

// Close runs the cleanups, last registered first.
func (h *Harness) Close() {
	h.mu.Lock()
	fs := h.cleanups
	h.cleanups = nil
	h.mu.Unlock()
	for i := len(fs) - 1; i >= 0; i-- {
		fs[i]()
	}
}
