package client_test

import (
	"context"
	"maps"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/authd-dev/authd/accounts"
	"github.com/authd-dev/authd/authdtest"
	"github.com/authd-dev/authd/authdtest/tokens"
	"github.com/authd-dev/authd/client"
	"github.com/authd-dev/authd/examples/greeter"
	authv1 "github.com/authd-dev/authd/gen/auth/v1"
	examplev1 "github.com/authd-dev/authd/gen/example/v1"
	"github.com/authd-dev/authd/guard"
	"github.com/authd-dev/authd/internal/authdenv"
	"github.com/authd-dev/authd/wire"
)

// issueCounter is the service account's connection to authd: it counts the
// IssueClientToken calls made through it, and fails them with Unavailable
// while down is set.
type issueCounter struct {
	grpc.ClientConnInterface
	issues atomic.Int64
	down   atomic.Bool
}

func (c *issueCounter) Invoke(ctx context.Context, method string, args, reply any, opts ...grpc.CallOption) error {
	if method == authv1.AuthService_IssueClientToken_FullMethodName {
		c.issues.Add(1)
		if c.down.Load() {
			return status.Error(codes.Unavailable, "authd is down")
		}
	}
	return c.ClientConnInterface.Invoke(ctx, method, args, reply, opts...)
}

// credentialsWorld is authd with a service account "reporter" (granted
// orders:read and reports:read), and a greeter called with the account's
// Credentials asking for orders:read.
type credentialsWorld struct {
	authd   *authdenv.Env
	auth    *issueCounter
	admin   authv1.AdminServiceClient
	rootTok string
	// id and secret are the service account's.
	id, secret string
	creds      *client.Credentials
	greeter    examplev1.GreeterServiceClient
}

func newCredentialsWorld(t *testing.T) *credentialsWorld {
	t.Helper()
	e := authdenv.New(t)
	ctx := context.Background()
	e.AddUser(t, "root", "root pw")
	if err := e.DB.SetRoles(ctx, "root", []string{"authd:admin"}, e.Clock.Now()); err != nil {
		t.Fatal(err)
	}
	w := &credentialsWorld{
		authd: e, auth: &issueCounter{ClientConnInterface: e.Conn}, admin: authv1.NewAdminServiceClient(e.Conn),
		rootTok: e.Login(t, "root", "root pw").AccessToken,
	}
	created, err := w.admin.CreateClient(tokens.Bearer(ctx, w.rootTok), &authv1.CreateClientRequest{
		Name: "reporter", Scopes: []string{"orders:read", "reports:read"},
	})
	if err != nil {
		t.Fatal(err)
	}
	w.id, w.secret = created.Client.ClientId, created.ClientSecret
	w.creds = client.ClientCredentials(w.auth, w.id, w.secret, []string{"orders:read"},
		client.CredentialsConfig{Insecure: true, Clock: e.Clock})
	g := guard.New(e.Verifier, guard.Config{PublicHealthAndReflection: true, Revocations: e.Sessions, Clock: e.Clock})
	srv, err := greeter.NewServer(g, e.Clock)
	if err != nil {
		t.Fatal(err)
	}
	w.greeter = examplev1.NewGreeterServiceClient(tokens.Serve(t, srv, grpc.WithPerRPCCredentials(w.creds)))
	return w
}

// call makes one ReadOrders call and returns the session of the token it
// went with.
func (w *credentialsWorld) call() (sid string, err error) {
	resp, err := w.greeter.ReadOrders(context.Background(), &examplev1.ReadOrdersRequest{})
	if err != nil {
		return "", err
	}
	if resp.Subject != "client:reporter" || !slices.Equal(resp.Scopes, []string{"orders:read"}) {
		return "", status.Errorf(codes.Internal, "test: ReadOrders answered %v", resp)
	}
	who, err := w.greeter.WhoAmI(context.Background(), &examplev1.WhoAmIRequest{})
	return who.GetSid(), err
}

func (w *credentialsWorld) mustCall(t *testing.T) string {
	t.Helper()
	sid, err := w.call()
	if err != nil {
		t.Fatal(err)
	}
	return sid
}

func (w *credentialsWorld) wantIssues(t *testing.T, n int64) {
	t.Helper()
	if got := w.auth.issues.Load(); got != n {
		t.Fatalf("%d IssueClientToken calls, want %d", got, n)
	}
}

// Calls made with the Credentials carry the account's token for the
// scopes asked, got once and reused.
func TestClientCredentials_CallsCarryAToken(t *testing.T) {
	w := newCredentialsWorld(t)
	first := w.mustCall(t)
	w.wantIssues(t, 1)
	if again := w.mustCall(t); again != first {
		t.Fatalf("second call went with session %s, first with %s", again, first)
	}
	w.wantIssues(t, 1)

	tok, err := w.creds.Token(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	claims, err := authv1.NewAuthServiceClient(w.authd.Conn).Verify(context.Background(), &authv1.VerifyRequest{Token: tok})
	if err != nil {
		t.Fatal(err)
	}
	if c := claims.Claims; c.Subject != "client:reporter" || c.Sid != first || !slices.Equal(c.Scopes, []string{"orders:read"}) {
		t.Fatalf("held token's claims = %v", c)
	}

	// The token has the scopes asked, not the role a method needs.
	_, err = w.greeter.Admin(context.Background(), &examplev1.AdminRequest{})
	tokens.WantRefusal(t, err, codes.PermissionDenied, wire.ReasonInsufficientRole)
	w.wantIssues(t, 1)
}

// However many calls need a token at once, one IssueClientToken is made:
// at the start, and again when the token is renewed.
func TestClientCredentials_ConcurrentCallsShareOneToken(t *testing.T) {
	w := newCredentialsWorld(t)
	var mu sync.Mutex
	sids := map[string]int{}
	callAll := func() {
		t.Helper()
		clear(sids)
		for i, err := range concurrently(50, func() error {
			sid, err := w.call()
			mu.Lock()
			sids[sid]++
			mu.Unlock()
			return err
		}) {
			if err != nil {
				t.Fatalf("call %d: %v", i, err)
			}
		}
		if len(sids) != 1 {
			t.Fatalf("50 calls went with sessions %v, want one", sids)
		}
	}
	callAll()
	w.wantIssues(t, 1)
	before := slices.Collect(maps.Keys(sids))[0]

	w.authd.Clock.Advance(14 * time.Minute) // within a minute of expiry
	callAll()
	w.wantIssues(t, 2)
	if _, same := sids[before]; same {
		t.Fatal("the calls within the margin went with the old token")
	}
}

// The token is renewed once the clock is within a minute of its expiry,
// not before.
func TestClientCredentials_RenewedWithinAMinuteOfExpiry(t *testing.T) {
	w := newCredentialsWorld(t)
	first := w.mustCall(t)
	w.authd.Clock.Advance(14*time.Minute - time.Second)
	if sid := w.mustCall(t); sid != first {
		t.Fatal("renewed more than a minute before expiry")
	}
	w.wantIssues(t, 1)
	w.authd.Clock.Advance(time.Second)
	second := w.mustCall(t)
	w.wantIssues(t, 2)
	if second == first {
		t.Fatal("the call within a minute of expiry went with the old token")
	}
	w.authd.Clock.Advance(2 * time.Minute) // the first token has expired; the new one is good
	if sid := w.mustCall(t); sid != second {
		t.Fatalf("call went with session %s, want %s", sid, second)
	}
	w.wantIssues(t, 2)
}

// An early renewal that fails is no error while the held token is valid;
// once it has expired, the call fails with authd's error.
func TestClientCredentials_AuthdDown(t *testing.T) {
	w := newCredentialsWorld(t)
	first := w.mustCall(t)
	w.auth.down.Store(true)
	w.authd.Clock.Advance(14*time.Minute + 30*time.Second)
	readOrders := func() error {
		_, err := w.greeter.ReadOrders(context.Background(), &examplev1.ReadOrdersRequest{})
		return err
	}
	// Each call within the margin tries to renew, and goes with the held
	// token when that fails.
	for i := range 2 {
		if err := readOrders(); err != nil {
			t.Fatalf("a failed early renewal failed the call: %v", err)
		}
		w.wantIssues(t, int64(2+i))
	}
	tok, err := w.creds.Token(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	held, err := authv1.NewAuthServiceClient(w.authd.Conn).Verify(context.Background(), &authv1.VerifyRequest{Token: tok})
	if err != nil || held.Claims.Sid != first {
		t.Fatalf("held token = %v, %v; want the first one", held, err)
	}

	w.authd.Clock.Advance(30 * time.Second) // the held token expires now
	err = readOrders()
	tokens.WantRefusal(t, err, codes.Unavailable, "")
	if msg := status.Convert(err).Message(); msg != "authd is down" {
		t.Fatalf("message = %q, want authd's", msg)
	}

	w.auth.down.Store(false)
	if sid := w.mustCall(t); sid == first {
		t.Fatal("the expired token was used")
	}
}

// When authd refuses the account (disabled) and the held token has
// expired, the call fails with authd's error, details and all.
func TestClientCredentials_RefusedOnceTheTokenHasExpired(t *testing.T) {
	w := newCredentialsWorld(t)
	w.mustCall(t)
	if _, err := w.admin.DisableClient(tokens.Bearer(context.Background(), w.rootTok), &authv1.DisableClientRequest{Name: "reporter"}); err != nil {
		t.Fatal(err)
	}
	// Disabling revoked the held token: the greeter, checking authd's
	// revocations, refuses it at once, still valid as it is.
	_, err := w.call()
	tokens.WantRefusal(t, err, codes.Unauthenticated, wire.ReasonTokenRevoked)
	w.wantIssues(t, 1)

	w.authd.Clock.Advance(15 * time.Minute)
	_, err = w.call()
	tokens.WantRefusal(t, err, codes.Unauthenticated, wire.ReasonInvalidCredentials)
	if msg := status.Convert(err).Message(); msg != accounts.ErrInvalidCredentials.Error() {
		t.Fatalf("message = %q", msg)
	}
	w.wantIssues(t, 2)
}

// A scope the account was not granted fails every call with authd's
// PermissionDenied, naming the scope.
func TestClientCredentials_ScopeNotGranted(t *testing.T) {
	w := newCredentialsWorld(t)
	creds := client.ClientCredentials(w.auth, w.id, w.secret, []string{"orders:write"},
		client.CredentialsConfig{Insecure: true, Clock: w.authd.Clock})
	_, err := creds.GetRequestMetadata(context.Background())
	tokens.WantRefusal(t, err, codes.PermissionDenied, wire.ReasonInsufficientScope)
	var info *errdetails.ErrorInfo
	for _, d := range status.Convert(err).Details() {
		if i, ok := d.(*errdetails.ErrorInfo); ok {
			info = i
		}
	}
	want := &errdetails.ErrorInfo{Domain: wire.Domain, Reason: wire.ReasonInsufficientScope, Metadata: map[string]string{wire.MetadataRequiredScopes: "orders:write"}}
	if !proto.Equal(info, want) {
		t.Fatalf("ErrorInfo = %v, want %v", info, want)
	}

	// Asking for nothing gets every granted scope.
	md, err := client.ClientCredentials(w.auth, w.id, w.secret, nil,
		client.CredentialsConfig{Insecure: true, Clock: w.authd.Clock}).GetRequestMetadata(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(md) != 1 || len(md[wire.AuthorizationKey]) < len("Bearer x") || md[wire.AuthorizationKey][:7] != "Bearer " {
		t.Fatalf("metadata = %v", md)
	}
}

// The Credentials demand a secure transport unless told otherwise: gRPC
// refuses to build an insecure connection with them.
func TestClientCredentials_RequireTransportSecurity(t *testing.T) {
	e := authdtest.New(t)
	secure := client.ClientCredentials(e.Conn, "authd-id", "secret", nil, client.CredentialsConfig{})
	if !secure.RequireTransportSecurity() {
		t.Fatal("RequireTransportSecurity is false without Insecure")
	}
	if client.ClientCredentials(e.Conn, "authd-id", "secret", nil, client.CredentialsConfig{Insecure: true}).RequireTransportSecurity() {
		t.Fatal("RequireTransportSecurity is true with Insecure")
	}
	conn, err := grpc.NewClient("passthrough:///bufnet",
		grpc.WithTransportCredentials(insecure.NewCredentials()), grpc.WithPerRPCCredentials(secure))
	if err == nil {
		conn.Close()
		t.Fatal("credentials accepted over an insecure connection")
	}
}
