package interceptors_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"

	"github.com/authd-dev/authd/examples/greeter"
	authv1 "github.com/authd-dev/authd/gen/auth/v1"
	examplev1 "github.com/authd-dev/authd/gen/example/v1"
	"github.com/authd-dev/authd/interceptors"
	"github.com/authd-dev/authd/internal/authdtest"
	"github.com/authd-dev/authd/jwks"
	"github.com/authd-dev/authd/token"
	"github.com/authd-dev/authd/wire"
)

var bg = context.Background()

// world is authd plus the example greeter verifying with authd's JWKS, and a
// stream-only test service with one method per requirement.
type world struct {
	authd   *authdtest.Env
	jwks    *jwks.Source
	fetches atomic.Int64
	greeter examplev1.GreeterServiceClient
	conn    *grpc.ClientConn
	tokens  map[string]string // case name -> token
}

// streamService has one server-streaming method per requirement, declared
// with WithMethods rather than a proto option.
var streamMethods = map[interceptors.Requirement]string{
	interceptors.Public:      "Public",
	interceptors.Access:      "Access",
	interceptors.FreshAccess: "FreshAccess",
	interceptors.Refresh:     "Refresh",
	interceptors.Optional:    "Optional",
}

func streamServiceDesc() (*grpc.ServiceDesc, map[string]interceptors.Requirement) {
	desc := &grpc.ServiceDesc{ServiceName: "test.Streams", HandlerType: (*any)(nil)}
	reqs := map[string]interceptors.Requirement{}
	for req, name := range streamMethods {
		desc.Streams = append(desc.Streams, grpc.StreamDesc{
			StreamName:    name,
			ServerStreams: true,
			Handler: func(_ any, stream grpc.ServerStream) error {
				var in examplev1.HelloRequest
				if err := stream.RecvMsg(&in); err != nil {
					return err
				}
				subject := "anonymous"
				if c, ok := interceptors.ClaimsFromContext(stream.Context()); ok {
					subject = c.Subject
				}
				return stream.SendMsg(&examplev1.HelloResponse{Message: subject})
			},
		})
		reqs["/test.Streams/"+name] = req
	}
	return desc, reqs
}

func newWorld(t *testing.T) *world {
	t.Helper()
	w := &world{authd: authdtest.New(t), tokens: map[string]string{}}
	e := w.authd
	e.AddUser(t, "alice", "pw")

	// A key that authd publishes, then retires: tokens it signed must stop
	// verifying once consumers refetch the JWKS.
	current := e.Keys.Keys()[0]
	retired, err := token.NewKey(authdtest.Start.Add(-time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Keys.Replace(current, retired); err != nil {
		t.Fatal(err)
	}
	fetch := jwks.GRPC(e.Conn)
	w.jwks = jwks.New(jwks.FetcherFunc(func(ctx context.Context) ([]token.JWK, error) {
		w.fetches.Add(1)
		return fetch.FetchKeys(ctx)
	}), jwks.WithClock(e.Clock))
	if err := w.jwks.Refresh(bg); err != nil {
		t.Fatal(err)
	}
	retiredToken := signWith(t, retired, claimsAt(e.Clock.Now().Add(time.Hour), "authd"))
	if err := e.Keys.Replace(current); err != nil {
		t.Fatal(err)
	}
	e.Clock.Advance(10 * time.Minute) // the consumer's JWKS cache goes stale

	verifier, err := token.NewVerifier(w.jwks, token.WithClock(e.Clock))
	if err != nil {
		t.Fatal(err)
	}
	desc, streamReqs := streamServiceDesc()
	srv, err := greeter.NewServer(verifier, e.Clock, interceptors.WithMethods(streamReqs))
	if err != nil {
		t.Fatal(err)
	}
	srv.RegisterService(desc, struct{}{})
	w.conn = authdtest.Serve(t, srv)
	w.greeter = examplev1.NewGreeterServiceClient(w.conn)

	login := e.Login(t, "alice", "pw")
	refreshed, err := e.Client.Refresh(authdtest.Bearer(bg, login.RefreshToken), &authv1.RefreshRequest{})
	if err != nil {
		t.Fatal(err)
	}
	unknownKey, _ := token.NewKey(e.Clock.Now())
	other := claimsAt(e.Clock.Now().Add(time.Hour), "someone-else")
	expiredClaims := claimsAt(e.Clock.Now().Add(-time.Second), "authd")
	expiredClaims.IssuedAt = jwt.NewNumericDate(e.Clock.Now().Add(-time.Minute))
	expiredClaims.NotBefore = expiredClaims.IssuedAt
	w.tokens = map[string]string{
		"access fresh":     login.AccessToken,
		"access non-fresh": refreshed.AccessToken,
		"refresh":          refreshed.RefreshToken,
		"expired access":   sign(t, e, expiredClaims),
		"other issuer":     sign(t, e, other),
		"unknown kid":      signWith(t, unknownKey, claimsAt(e.Clock.Now().Add(time.Hour), "authd")),
		"revoked key":      retiredToken,
	}
	return w
}

func claimsAt(exp time.Time, issuer string) token.Claims {
	iat := exp.Add(-time.Hour)
	return token.Claims{
		Issuer: issuer, Audience: token.Audience{"authd"}, Subject: "alice", Type: token.Access, Fresh: token.Fresh{Value: true},
		ID: token.NewID(), IssuedAt: jwt.NewNumericDate(iat), ExpiresAt: jwt.NewNumericDate(exp),
	}
}

func sign(t *testing.T, e *authdtest.Env, c token.Claims) string {
	t.Helper()
	kid, key := e.Keys.SigningKey()
	return signRaw(t, kid, key, c)
}

func signWith(t *testing.T, k token.Key, c token.Claims) string {
	t.Helper()
	return signRaw(t, k.ID, k.Private, c)
}

func signRaw(t *testing.T, kid string, key any, c token.Claims) string {
	t.Helper()
	tok := jwt.NewWithClaims(jwt.SigningMethodEdDSA, &c)
	tok.Header["kid"] = kid
	raw, err := tok.SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

const (
	ok        = ""
	missing   = wire.ReasonTokenMissing
	invalid   = wire.ReasonTokenInvalid
	expired   = wire.ReasonTokenExpired
	wrongType = wire.ReasonWrongTokenType
	notFresh  = wire.ReasonFreshTokenRequired
)

// matrix: for each way of calling, the outcome per requirement, in the order
// Public, Access, FreshAccess, Refresh, Optional.
var matrix = []struct {
	name string
	want [5]string
}{
	{"no metadata", [5]string{ok, missing, missing, missing, ok}},
	{"malformed header", [5]string{ok, missing, missing, missing, missing}},
	{"two authorization values", [5]string{ok, missing, missing, missing, missing}},
	{"access fresh", [5]string{ok, ok, ok, wrongType, ok}},
	{"access non-fresh", [5]string{ok, ok, notFresh, wrongType, ok}},
	{"refresh", [5]string{ok, wrongType, wrongType, ok, wrongType}},
	{"expired access", [5]string{ok, expired, expired, expired, expired}},
	{"other issuer", [5]string{ok, invalid, invalid, invalid, invalid}},
	{"unknown kid", [5]string{ok, invalid, invalid, invalid, invalid}},
	{"revoked key", [5]string{ok, invalid, invalid, invalid, invalid}},
}

var order = []interceptors.Requirement{
	interceptors.Public, interceptors.Access, interceptors.FreshAccess, interceptors.Refresh, interceptors.Optional,
}

func (w *world) outgoing(name string) context.Context {
	switch name {
	case "no metadata":
		return bg
	case "malformed header":
		return metadata.AppendToOutgoingContext(bg, "authorization", "Token "+w.tokens["access fresh"])
	case "two authorization values":
		return metadata.AppendToOutgoingContext(bg, "authorization", "Bearer "+w.tokens["access fresh"],
			"authorization", "Bearer "+w.tokens["access fresh"])
	}
	return authdtest.Bearer(bg, w.tokens[name])
}

// callUnary calls the greeter method that declares req in greeter.proto.
func (w *world) callUnary(ctx context.Context, req interceptors.Requirement) error {
	var err error
	switch req {
	case interceptors.Public:
		_, err = w.greeter.Hello(ctx, &examplev1.HelloRequest{})
	case interceptors.Access:
		_, err = w.greeter.WhoAmI(ctx, &examplev1.WhoAmIRequest{})
	case interceptors.FreshAccess:
		_, err = w.greeter.DeleteAccount(ctx, &examplev1.DeleteAccountRequest{})
	case interceptors.Refresh:
		_, err = w.greeter.SessionInfo(ctx, &examplev1.SessionInfoRequest{})
	case interceptors.Optional:
		_, err = w.greeter.Greet(ctx, &examplev1.GreetRequest{})
	}
	return err
}

func (w *world) callStream(ctx context.Context, req interceptors.Requirement) error {
	desc := &grpc.StreamDesc{ServerStreams: true}
	stream, err := w.conn.NewStream(ctx, desc, "/test.Streams/"+streamMethods[req])
	if err != nil {
		return err
	}
	if err := stream.SendMsg(&examplev1.HelloRequest{}); err != nil {
		return err
	}
	if err := stream.CloseSend(); err != nil {
		return err
	}
	var out examplev1.HelloResponse
	return stream.RecvMsg(&out)
}

func TestMatrix(t *testing.T) {
	w := newWorld(t)
	for _, kind := range []struct {
		name string
		call func(context.Context, interceptors.Requirement) error
	}{{"unary", w.callUnary}, {"stream", w.callStream}} {
		for _, row := range matrix {
			for i, req := range order {
				t.Run(kind.name+"/"+row.name+"/"+req.String(), func(t *testing.T) {
					err := kind.call(w.outgoing(row.name), req)
					if row.want[i] == ok {
						if err != nil {
							t.Fatalf("refused: %v", err)
						}
						return
					}
					authdtest.WantRefusal(t, err, codes.Unauthenticated, row.want[i])
				})
			}
		}
	}
}

func TestClaimsReachHandlers(t *testing.T) {
	w := newWorld(t)
	resp, err := w.greeter.WhoAmI(authdtest.Bearer(bg, w.tokens["access fresh"]), &examplev1.WhoAmIRequest{})
	if err != nil || resp.Subject != "alice" || !resp.Fresh || resp.Sid == "" {
		t.Fatalf("WhoAmI = %v, %v", resp, err)
	}
	greet, err := w.greeter.Greet(bg, &examplev1.GreetRequest{})
	if err != nil || greet.Message != "hello, stranger" {
		t.Fatalf("anonymous Greet = %v, %v", greet, err)
	}
	greet, err = w.greeter.Greet(authdtest.Bearer(bg, w.tokens["access fresh"]), &examplev1.GreetRequest{})
	if err != nil || greet.Message != "hello, alice" {
		t.Fatalf("Greet with token = %v, %v", greet, err)
	}
}

func TestStream_EndedWithTokenExpiredWhenTokenExpires(t *testing.T) {
	w := newWorld(t)
	e := w.authd
	access := w.tokens["access fresh"] // expires 15 minutes after login
	stream, err := w.greeter.Ticks(authdtest.Bearer(bg, access), &examplev1.TicksRequest{IntervalMs: 60_000})
	if err != nil {
		t.Fatal(err)
	}
	for n := int64(1); ; n++ {
		tick, err := stream.Recv()
		if err != nil {
			authdtest.WantRefusal(t, err, codes.Unauthenticated, expired)
			if n != 16 {
				t.Fatalf("stream ended after %d ticks of one minute, want at the 15-minute expiry", n-1)
			}
			return
		}
		if tick.N != n || tick.Subject != "alice" {
			t.Fatalf("tick = %v, want %d for alice", tick, n)
		}
		advanceUntilTimerFires(e, time.Minute)
	}
}

// advanceUntilTimerFires moves the fake clock by d once the handler has
// armed its timer for the next tick, next to the interceptor's expiry timer
// (gone once the token has expired, hence the bounded wait).
func advanceUntilTimerFires(e *authdtest.Env, d time.Duration) {
	e.Clock.WaitForTimers(2, time.Second)
	e.Clock.Advance(d)
}

func TestStream_ExpiryCanBeTurnedOff(t *testing.T) {
	e := authdtest.New(t)
	e.AddUser(t, "alice", "pw")
	srv, err := greeter.NewServer(e.Verifier, e.Clock, interceptors.WithStreamExpiry(false))
	if err != nil {
		t.Fatal(err)
	}
	client := examplev1.NewGreeterServiceClient(authdtest.Serve(t, srv))
	stream, err := client.Ticks(authdtest.Bearer(bg, e.Login(t, "alice", "pw").AccessToken), &examplev1.TicksRequest{IntervalMs: 60_000, Count: 20})
	if err != nil {
		t.Fatal(err)
	}
	for n := 1; ; n++ {
		_, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			if n != 21 {
				t.Fatalf("stream ended after %d ticks, want 20", n-1)
			}
			return
		}
		if err != nil {
			t.Fatalf("tick %d: %v", n, err)
		}
		if n < 20 {
			if !e.Clock.WaitForTimers(1, 10*time.Second) {
				t.Fatal("handler never armed its tick timer")
			}
			e.Clock.Advance(time.Minute)
		}
	}
}

func TestCheckServer_NamesUndeclaredMethods(t *testing.T) {
	e := authdtest.New(t)
	authn := interceptors.New(e.Verifier)
	srv := grpc.NewServer()
	examplev1.RegisterGreeterServiceServer(srv, &greeter.Greeter{Clock: e.Clock})
	desc, _ := streamServiceDesc()
	srv.RegisterService(desc, struct{}{})
	err := authn.CheckServer(srv)
	var undeclared *interceptors.UndeclaredError
	if !errors.As(err, &undeclared) {
		t.Fatalf("CheckServer = %v, want *UndeclaredError", err)
	}
	if len(undeclared.Methods) != 5 || undeclared.Methods[0] != "/test.Streams/Access" ||
		!strings.Contains(err.Error(), "/test.Streams/Refresh") || strings.Contains(err.Error(), "GreeterService") {
		t.Fatalf("undeclared = %v; want the five test.Streams methods and no greeter method", undeclared.Methods)
	}
	if err := interceptors.New(e.Verifier, interceptors.WithService("test.Streams", interceptors.Access)).CheckServer(srv); err != nil {
		t.Fatalf("with a service-wide declaration: %v", err)
	}
}

func TestPolicy_SourcesInOrder(t *testing.T) {
	e := authdtest.New(t)
	authn := interceptors.New(e.Verifier,
		interceptors.WithMethod("/example.v1.GreeterService/Hello", interceptors.FreshAccess),
		interceptors.WithService("example.v1.GreeterService", interceptors.Refresh),
	)
	for method, want := range map[string]interceptors.Requirement{
		"/example.v1.GreeterService/Hello":    interceptors.FreshAccess, // method override beats all
		"/example.v1.GreeterService/WhoAmI":   interceptors.Refresh,     // service override beats the proto option
		"/auth.v1.AuthService/Login":          interceptors.Public,      // proto option
		"/auth.v1.AuthService/ChangePassword": interceptors.FreshAccess,
		"/unknown.Service/Method":             interceptors.Access, // default: deny
		"not a method":                        interceptors.Access,
	} {
		if got := authn.Requirement(method); got != want {
			t.Errorf("Requirement(%q) = %v, want %v", method, got, want)
		}
	}
	if got := interceptors.New(e.Verifier).Requirement("/example.v1.GreeterService/Hello"); got != interceptors.Public {
		t.Errorf("proto option: %v, want PUBLIC", got)
	}
}

func TestUnknownMethodIsDeniedNotOpen(t *testing.T) {
	e := authdtest.New(t)
	authn := interceptors.New(e.Verifier)
	reached := false
	srv := grpc.NewServer(grpc.UnknownServiceHandler(func(any, grpc.ServerStream) error {
		reached = true
		return nil
	}), grpc.ChainStreamInterceptor(authn.StreamServerInterceptor()))
	conn := authdtest.Serve(t, srv)
	err := conn.Invoke(bg, "/nope.Service/Anything", &examplev1.HelloRequest{}, &examplev1.HelloResponse{})
	authdtest.WantRefusal(t, err, codes.Unauthenticated, missing)
	if reached {
		t.Fatal("the handler of an undeclared method ran without a token")
	}
}

func TestJWKS_PicksUpRotation(t *testing.T) {
	w := newWorld(t)
	e := w.authd
	newer, err := token.NewKey(e.Clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Keys.Replace(append(e.Keys.Keys(), newer)...); err != nil {
		t.Fatal(err)
	}
	e.Clock.Advance(31 * time.Second) // past the cooldown since the last fetch
	login := e.Login(t, "alice", "pw")
	if kid := kidOf(t, login.AccessToken); kid != newer.ID {
		t.Fatalf("authd signs with %s, want the rotated key %s", kid, newer.ID)
	}
	if _, err := w.greeter.WhoAmI(authdtest.Bearer(bg, login.AccessToken), &examplev1.WhoAmIRequest{}); err != nil {
		t.Fatalf("token signed by the new key: %v", err)
	}
	if _, err := w.greeter.WhoAmI(authdtest.Bearer(bg, w.tokens["access fresh"]), &examplev1.WhoAmIRequest{}); err != nil {
		t.Fatalf("token signed before rotation: %v", err)
	}
}

func TestJWKS_UnknownKidStormFetchesOncePerCooldown(t *testing.T) {
	w := newWorld(t)
	// One call to warm the cache after newWorld made it stale.
	if _, err := w.greeter.WhoAmI(authdtest.Bearer(bg, w.tokens["access fresh"]), &examplev1.WhoAmIRequest{}); err != nil {
		t.Fatal(err)
	}
	before := w.fetches.Load()
	for range 200 {
		forged, _ := token.NewKey(w.authd.Clock.Now())
		raw := signWith(t, forged, claimsAt(w.authd.Clock.Now().Add(time.Hour), "authd"))
		_, err := w.greeter.WhoAmI(authdtest.Bearer(bg, raw), &examplev1.WhoAmIRequest{})
		authdtest.WantRefusal(t, err, codes.Unauthenticated, invalid)
	}
	if n := w.fetches.Load() - before; n > 1 {
		t.Fatalf("200 forged kids caused %d JWKS fetches, want at most 1 per 30s cooldown", n)
	}
}

func TestJWKS_WarmCacheSurvivesAuthdOutage(t *testing.T) {
	e := authdtest.New(t)
	e.AddUser(t, "alice", "pw")
	var down atomic.Bool
	fetch := jwks.GRPC(e.Conn)
	jwks := jwks.New(jwks.FetcherFunc(func(ctx context.Context) ([]token.JWK, error) {
		if down.Load() {
			return nil, errors.New("connection refused")
		}
		return fetch.FetchKeys(ctx)
	}), jwks.WithClock(e.Clock))
	v, _ := token.NewVerifier(jwks, token.WithClock(e.Clock))
	srv, err := greeter.NewServer(v, e.Clock)
	if err != nil {
		t.Fatal(err)
	}
	client := examplev1.NewGreeterServiceClient(authdtest.Serve(t, srv))

	down.Store(true)
	access := e.Login(t, "alice", "pw").AccessToken
	_, err = client.WhoAmI(authdtest.Bearer(bg, access), &examplev1.WhoAmIRequest{})
	authdtest.WantRefusal(t, err, codes.Unavailable, "")

	down.Store(false)
	e.Clock.Advance(31 * time.Second)
	if _, err := client.WhoAmI(authdtest.Bearer(bg, access), &examplev1.WhoAmIRequest{}); err != nil {
		t.Fatal(err)
	}
	down.Store(true)
	e.Clock.Advance(11 * time.Minute) // cache stale, refetch fails: keep the keys
	access = e.Login(t, "alice", "pw").AccessToken
	if _, err := client.WhoAmI(authdtest.Bearer(bg, access), &examplev1.WhoAmIRequest{}); err != nil {
		t.Fatalf("authd down with a warm cache: %v", err)
	}
}

func kidOf(t *testing.T, raw string) string {
	t.Helper()
	tok, _, err := jwt.NewParser().ParseUnverified(raw, &token.Claims{})
	if err != nil {
		t.Fatal(err)
	}
	kid, _ := tok.Header["kid"].(string)
	return kid
}

func TestFreshMaxAge_RecentLoginCountsAsFresh(t *testing.T) {
	e := authdtest.New(t)
	e.AddUser(t, "alice", "pw")
	login := e.Login(t, "alice", "pw")
	refreshed, err := e.Client.Refresh(authdtest.Bearer(bg, login.RefreshToken), &authv1.RefreshRequest{})
	if err != nil {
		t.Fatal(err)
	}
	srv, err := greeter.NewServer(e.Verifier, e.Clock, interceptors.WithFreshMaxAge(5*time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	client := examplev1.NewGreeterServiceClient(authdtest.Serve(t, srv))
	ctx := authdtest.Bearer(bg, refreshed.AccessToken) // fresh: false, auth_time: login
	e.Clock.Advance(4 * time.Minute)
	if _, err := client.DeleteAccount(ctx, &examplev1.DeleteAccountRequest{}); err != nil {
		t.Fatalf("non-fresh token 4 minutes after login, max age 5m: %v", err)
	}
	e.Clock.Advance(time.Minute)
	_, err = client.DeleteAccount(ctx, &examplev1.DeleteAccountRequest{})
	authdtest.WantRefusal(t, err, codes.Unauthenticated, notFresh)
}

func TestJWKS_OverHTTP(t *testing.T) {
	e := authdtest.New(t)
	e.AddUser(t, "alice", "pw")
	web := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/.well-known/jwks.json" {
			http.NotFound(w, r)
			return
		}
		json.NewEncoder(w).Encode(map[string]any{"keys": e.Keys.JWKS()})
	}))
	defer web.Close()
	v, err := token.NewVerifier(jwks.New(jwks.HTTP(web.URL+"/.well-known/jwks.json", web.Client())), token.WithClock(e.Clock))
	if err != nil {
		t.Fatal(err)
	}
	claims, err := v.Verify(bg, e.Login(t, "alice", "pw").AccessToken)
	if err != nil || claims.Subject != "alice" {
		t.Fatalf("Verify = %v, %v", claims, err)
	}
	bad, _ := token.NewVerifier(jwks.New(jwks.HTTP(web.URL+"/missing", web.Client())))
	if _, err := bad.Verify(bg, e.Login(t, "alice", "pw").AccessToken); !errors.Is(err, token.ErrKeysUnavailable) {
		t.Fatalf("JWKS URL answering 404: %v, want ErrKeysUnavailable", err)
	}
}
