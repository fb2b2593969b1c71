package client_test

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/golang-jwt/jwt/v5"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"

	"github.com/authd-dev/authd/authdtest/tokens"
	"github.com/authd-dev/authd/client"
	"github.com/authd-dev/authd/dpop"
	"github.com/authd-dev/authd/examples/greeter"
	authv1 "github.com/authd-dev/authd/gen/auth/v1"
	examplev1 "github.com/authd-dev/authd/gen/example/v1"
	"github.com/authd-dev/authd/guard"
	"github.com/authd-dev/authd/token"
	"github.com/authd-dev/authd/wire"
)

// fakeAuthd issues tokens as authd does with DPoP: bound to the key of the
// proof a Login, Refresh or IssueClientToken carries (or to the client
// certificate of a mutual-TLS IssueClientToken), and refuses to refresh a
// bound session without a proof of its key.
type fakeAuthd struct {
	authv1.UnimplementedAuthServiceServer
	t        *testing.T
	iss      *tokens.Issuer
	verifier *dpop.Verifier

	mu    sync.Mutex
	calls map[string]int // by method
	seen  []seenCall     // every call, in order
}

// seenCall is what a server saw of a call: its authorization and proof.
type seenCall struct {
	method, authorization, proof string
}

func (a *fakeAuthd) record(ctx context.Context) metadata.MD {
	md, _ := metadata.FromIncomingContext(ctx)
	method, _ := grpc.Method(ctx)
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.calls == nil {
		a.calls = map[string]int{}
	}
	a.calls[method]++
	a.seen = append(a.seen, seenCall{method, first(md, wire.AuthorizationKey), first(md, wire.DPoPKey)})
	return md
}

func (a *fakeAuthd) count(method string) int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.calls[method]
}

func first(md metadata.MD, key string) string {
	if v := md.Get(key); len(v) > 0 {
		return v[0]
	}
	return ""
}

// htuOf is the htu of the call ctx is serving, as the server sees it.
func htuOf(ctx context.Context, md metadata.MD) string {
	scheme := "http"
	if p, ok := peer.FromContext(ctx); ok {
		if _, tls := p.AuthInfo.(credentials.TLSInfo); tls {
			scheme = "https"
		}
	}
	method, _ := grpc.Method(ctx)
	return dpop.HTU(scheme, first(md, ":authority"), method)
}

// proofKey returns the thumbprint of the key of the call's proof ("" with
// none), checked for tok ("" for none).
func proofKey(ctx context.Context, v *dpop.Verifier, md metadata.MD, tok string) (string, error) {
	if len(md.Get(wire.DPoPKey)) == 0 {
		return "", nil
	}
	p, err := v.Verify(md.Get(wire.DPoPKey), "POST", htuOf(ctx, md), tok)
	if err != nil {
		return "", wire.StatusError(err)
	}
	return p.JKT, nil
}

func boundTo(jkt, x5t string) tokens.Claim {
	return func(c *token.Claims) {
		if jkt != "" || x5t != "" {
			c.Confirmation = &token.Confirmation{JWKThumbprint: jkt, CertificateThumbprint: x5t}
		}
	}
}

func tokenType(jkt string) string {
	if jkt != "" {
		return wire.DPoPScheme
	}
	return "Bearer"
}

func (a *fakeAuthd) Login(ctx context.Context, req *authv1.LoginRequest) (*authv1.LoginResponse, error) {
	md := a.record(ctx)
	if req.Username != "alice" || req.Password != "pw" {
		return nil, status.Error(codes.Unauthenticated, "invalid credentials")
	}
	jkt, err := proofKey(ctx, a.verifier, md, "")
	if err != nil {
		return nil, err
	}
	sid := token.NewID()
	return &authv1.LoginResponse{
		AccessToken:  a.iss.FreshAccess(a.t, "alice", sid, boundTo(jkt, "")),
		RefreshToken: a.iss.Refresh(a.t, "alice", sid, boundTo(jkt, "")),
		TokenType:    tokenType(jkt),
	}, nil
}

func (a *fakeAuthd) Refresh(ctx context.Context, _ *authv1.RefreshRequest) (*authv1.RefreshResponse, error) {
	md := a.record(ctx)
	scheme, raw, _ := strings.Cut(first(md, wire.AuthorizationKey), " ")
	claims, err := a.iss.Verifier.Verify(ctx, raw)
	if err != nil || claims.Type != token.Refresh {
		return nil, status.Error(codes.Unauthenticated, "invalid refresh token")
	}
	jkt := claims.Confirmation.GetJWKThumbprint()
	if jkt != "" {
		// A bound session stays bound: only a proof of its key refreshes it.
		if scheme != wire.DPoPScheme {
			return nil, wire.StatusError(dpop.ErrProofRequired)
		}
		got, err := proofKey(ctx, a.verifier, md, raw)
		if err != nil {
			return nil, err
		}
		if got != jkt {
			return nil, wire.StatusError(dpop.ErrProofRequired)
		}
	}
	return &authv1.RefreshResponse{
		AccessToken:  a.iss.Access(a.t, "alice", claims.SessionID, boundTo(jkt, "")),
		RefreshToken: a.iss.Refresh(a.t, "alice", claims.SessionID, boundTo(jkt, "")),
		TokenType:    tokenType(jkt),
	}, nil
}

func (a *fakeAuthd) Logout(ctx context.Context, _ *authv1.LogoutRequest) (*authv1.LogoutResponse, error) {
	a.record(ctx)
	return &authv1.LogoutResponse{}, nil
}

func (a *fakeAuthd) IssueClientToken(ctx context.Context, req *authv1.IssueClientTokenRequest) (*authv1.IssueClientTokenResponse, error) {
	md := a.record(ctx)
	if req.ClientId != "reporter" || req.ClientSecret != "s3cret" {
		return nil, status.Error(codes.Unauthenticated, "invalid credentials")
	}
	x5t := peerCertificateThumbprint(ctx)
	jkt := ""
	if x5t == "" {
		var err error
		if jkt, err = proofKey(ctx, a.verifier, md, ""); err != nil {
			return nil, err
		}
	}
	return &authv1.IssueClientTokenResponse{
		AccessToken: a.iss.Access(a.t, "client:reporter", token.NewID(), boundTo(jkt, x5t)),
		TokenType:   tokenType(jkt),
		ExpiresIn:   int64(tokens.AccessTTL.Seconds()),
	}, nil
}

// peerCertificateThumbprint is the x5t#S256 of the client certificate of
// a mutual-TLS call, "" for none.
func peerCertificateThumbprint(ctx context.Context) string {
	p, ok := peer.FromContext(ctx)
	if !ok {
		return ""
	}
	info, ok := p.AuthInfo.(credentials.TLSInfo)
	if !ok || len(info.State.PeerCertificates) == 0 {
		return ""
	}
	sum := sha256.Sum256(info.State.PeerCertificates[0].Raw)
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// boundGreeter accepts a token bound to a key only as `DPoP <token>` with a
// proof of that key for the call, a token bound to a certificate only over
// a connection presenting it, and an unbound one only as Bearer: what the
// guard does with guard.Config.DPoP.
type boundGreeter struct {
	examplev1.UnimplementedGreeterServiceServer
	authd    *fakeAuthd
	verifier *dpop.Verifier

	mu   sync.Mutex
	seen []seenCall
}

func (g *boundGreeter) check(ctx context.Context) (*token.Claims, error) {
	md, _ := metadata.FromIncomingContext(ctx)
	method, _ := grpc.Method(ctx)
	g.mu.Lock()
	g.seen = append(g.seen, seenCall{method, first(md, wire.AuthorizationKey), first(md, wire.DPoPKey)})
	g.mu.Unlock()
	scheme, raw, _ := strings.Cut(first(md, wire.AuthorizationKey), " ")
	claims, err := g.authd.iss.Verifier.Verify(ctx, raw)
	if err != nil || claims.Type != token.Access {
		return nil, status.Errorf(codes.Unauthenticated, "invalid token: %v", err)
	}
	switch jkt, x5t := claims.Confirmation.GetJWKThumbprint(), claims.Confirmation.GetCertificateThumbprint(); {
	case jkt != "":
		if scheme != wire.DPoPScheme {
			return nil, wire.StatusError(dpop.ErrProofRequired)
		}
		got, err := proofKey(ctx, g.verifier, md, raw)
		if err != nil {
			return nil, err
		}
		if got != jkt {
			return nil, wire.StatusError(dpop.ErrProofInvalid)
		}
	case x5t != "":
		if scheme != "Bearer" || peerCertificateThumbprint(ctx) != x5t {
			return nil, status.Error(codes.Unauthenticated, "certificate-bound token without its certificate")
		}
	case scheme != "Bearer":
		return nil, status.Error(codes.Unauthenticated, "not a bearer token")
	}
	return claims, nil
}

func (g *boundGreeter) calls() []seenCall {
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([]seenCall(nil), g.seen...)
}

func (g *boundGreeter) WhoAmI(ctx context.Context, _ *examplev1.WhoAmIRequest) (*examplev1.WhoAmIResponse, error) {
	claims, err := g.check(ctx)
	if err != nil {
		return nil, err
	}
	return &examplev1.WhoAmIResponse{Subject: claims.Subject, Sid: claims.SessionID}, nil
}

func (g *boundGreeter) Ticks(_ *examplev1.TicksRequest, stream grpc.ServerStreamingServer[examplev1.TicksResponse]) error {
	if _, err := g.check(stream.Context()); err != nil {
		return err
	}
	return stream.Send(&examplev1.TicksResponse{})
}

// dpopWorld is a fakeAuthd and a boundGreeter, each with its own proof
// verifier on the issuer's clock, served over bufconn.
type dpopWorld struct {
	authd     *fakeAuthd
	greeter   *boundGreeter
	authdConn *grpc.ClientConn
	dialGreet func(opts ...grpc.DialOption) examplev1.GreeterServiceClient
}

func newDPoPWorld(t *testing.T, authdNonce, greeterNonce bool) *dpopWorld {
	t.Helper()
	iss := tokens.New(t)
	a := &fakeAuthd{t: t, iss: iss, verifier: dpop.NewVerifier(dpop.Config{Clock: iss.Clock, RequireNonce: authdNonce})}
	g := &boundGreeter{authd: a, verifier: dpop.NewVerifier(dpop.Config{Clock: iss.Clock, RequireNonce: greeterNonce})}
	srv := grpc.NewServer()
	authv1.RegisterAuthServiceServer(srv, a)
	w := &dpopWorld{authd: a, greeter: g, authdConn: tokens.Serve(t, srv)}
	w.dialGreet = func(opts ...grpc.DialOption) examplev1.GreeterServiceClient {
		gs := grpc.NewServer()
		examplev1.RegisterGreeterServiceServer(gs, g)
		return examplev1.NewGreeterServiceClient(tokens.Serve(t, gs, opts...))
	}
	return w
}

func (w *dpopWorld) newClient(t *testing.T, cfg client.Config) *client.Client {
	t.Helper()
	cfg.Insecure, cfg.Clock = true, w.authd.iss.Clock
	c, err := client.New(bg, w.authdConn, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// claimsOf reads a token's claims without verifying them.
func claimsOf(t *testing.T, raw string) *token.Claims {
	t.Helper()
	var c token.Claims
	if _, _, err := jwt.NewParser().ParseUnverified(raw, &c); err != nil {
		t.Fatal(err)
	}
	return &c
}

// With Config.DPoP, Login sends a proof (no ath) and gets tokens bound to
// the client's key; every call then carries `DPoP <token>` and a new
// proof for its own method and authority; the same token copied without
// the key is refused, as Bearer or as DPoP with a proof of another key.
func TestDPoP_LoginBindsAndEveryCallCarriesAProof(t *testing.T) {
	w := newDPoPWorld(t, false, false)
	c := w.newClient(t, client.Config{DPoP: true})
	if err := c.Login(bg, "alice", "pw"); err != nil {
		t.Fatal(err)
	}
	held := c.Tokens()
	key, err := dpop.ParseKey([]byte(held.DPoPKey))
	if err != nil {
		t.Fatalf("Tokens.DPoPKey: %v", err)
	}
	for _, raw := range []string{held.Access, held.Refresh} {
		if got := claimsOf(t, raw).Confirmation.GetJWKThumbprint(); got != key.Thumbprint() {
			t.Fatalf("cnf.jkt = %q, want the client key's %q", got, key.Thumbprint())
		}
	}
	login := w.authd.seen[0]
	if login.proof == "" || login.authorization != "" {
		t.Fatalf("Login carried authorization %q and proof %q, want a proof alone", login.authorization, login.proof)
	}
	if ath := proofClaims(t, login.proof)["ath"]; ath != nil {
		t.Fatalf("Login's proof has ath %v, want none", ath)
	}

	greeter := w.dialGreet(c.DialOptions()...)
	for range 2 {
		who, err := greeter.WhoAmI(bg, &examplev1.WhoAmIRequest{})
		if err != nil || who.Subject != "alice" {
			t.Fatalf("WhoAmI = %v, %v", who, err)
		}
	}
	calls := w.greeter.calls()
	if len(calls) != 2 || calls[0].proof == calls[1].proof {
		t.Fatalf("greeter saw %d calls, want 2 with a proof each", len(calls))
	}
	for _, call := range calls {
		p := proofClaims(t, call.proof)
		if call.authorization != "DPoP "+held.Access || p["htu"] != "http://bufnet/example.v1.GreeterService/WhoAmI" ||
			p["htm"] != "POST" || p["ath"] != dpop.TokenHash(held.Access) {
			t.Fatalf("greeter saw authorization %q, proof %v", call.authorization, p)
		}
	}

	stolen := w.dialGreet()
	thief, err := dpop.NewKey()
	if err != nil {
		t.Fatal(err)
	}
	thiefProof, err := thief.Proof("POST", "http://bufnet/example.v1.GreeterService/WhoAmI", held.Access, "", w.authd.iss.Clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	for name, md := range map[string]metadata.MD{
		"as Bearer":             metadata.Pairs("authorization", "Bearer "+held.Access),
		"as DPoP without proof": metadata.Pairs("authorization", "DPoP "+held.Access),
		"with the thief's key":  metadata.Pairs("authorization", "DPoP "+held.Access, "dpop", thiefProof),
		"with a replayed proof": metadata.Pairs("authorization", "DPoP "+held.Access, "dpop", calls[0].proof),
	} {
		if _, err := stolen.WhoAmI(metadata.NewOutgoingContext(bg, md), &examplev1.WhoAmIRequest{}); status.Code(err) != codes.Unauthenticated {
			t.Errorf("the stolen token %s: %v, want Unauthenticated", name, err)
		}
	}
}

// proofClaims reads a proof's claims without verifying it.
func proofClaims(t *testing.T, proof string) map[string]any {
	t.Helper()
	parts := strings.Split(proof, ".")
	if len(parts) != 3 {
		t.Fatalf("proof %q is not a compact JWS", proof)
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var c map[string]any
	if err := json.Unmarshal(b, &c); err != nil {
		t.Fatal(err)
	}
	return c
}

// An expired bound access token is refreshed with `DPoP <refresh token>`
// and a proof whose ath is the refresh token's hash; the new tokens are
// bound to the same key. A refresh token alone, without the key, refreshes
// nothing.
func TestDPoP_RefreshKeepsTheBinding(t *testing.T) {
	w := newDPoPWorld(t, false, false)
	c := w.newClient(t, client.Config{DPoP: true})
	if err := c.Login(bg, "alice", "pw"); err != nil {
		t.Fatal(err)
	}
	before := c.Tokens()
	greeter := w.dialGreet(c.DialOptions()...)
	w.authd.iss.Clock.Advance(tokens.AccessTTL + 1)
	if _, err := greeter.WhoAmI(bg, &examplev1.WhoAmIRequest{}); err != nil {
		t.Fatal(err)
	}
	after := c.Tokens()
	if after.Access == before.Access || after.DPoPKey != before.DPoPKey {
		t.Fatal("no refresh, or a new key")
	}
	jkt := claimsOf(t, before.Access).Confirmation.GetJWKThumbprint()
	if got := claimsOf(t, after.Access).Confirmation.GetJWKThumbprint(); got != jkt {
		t.Fatalf("refreshed token's cnf.jkt = %q, want %q", got, jkt)
	}
	refresh := w.authd.seen[1]
	if refresh.authorization != "DPoP "+before.Refresh || proofClaims(t, refresh.proof)["ath"] != dpop.TokenHash(before.Refresh) {
		t.Fatalf("Refresh carried %q with proof %v", refresh.authorization, proofClaims(t, refresh.proof))
	}

	stolen := authv1.NewAuthServiceClient(w.authdConn)
	_, err := stolen.Refresh(tokens.Bearer(bg, after.Refresh), &authv1.RefreshRequest{})
	tokens.WantRefusal(t, err, codes.Unauthenticated, wire.ReasonDPoPProofRequired)
}

// A server that requires a nonce refuses the first proof with
// DPOP_NONCE_REQUIRED: the call is retried exactly once, with a proof
// carrying the nonce, and the next calls to the same authority carry it
// from the start. Login, unary calls and streams alike.
func TestDPoP_NonceRetriedOnce(t *testing.T) {
	w := newDPoPWorld(t, true, true)
	c := w.newClient(t, client.Config{DPoP: true})
	if err := c.Login(bg, "alice", "pw"); err != nil {
		t.Fatal(err)
	}
	if n := w.authd.count(authv1.AuthService_Login_FullMethodName); n != 2 {
		t.Fatalf("%d Login calls, want 2 (one refused for a nonce, one retry)", n)
	}
	greeter := w.dialGreet(c.DialOptions()...)
	if _, err := greeter.WhoAmI(bg, &examplev1.WhoAmIRequest{}); err != nil {
		t.Fatal(err)
	}
	if n := len(w.greeter.calls()); n != 2 {
		t.Fatalf("%d WhoAmI calls, want 2 (one refused for a nonce, one retry)", n)
	}
	if _, err := greeter.WhoAmI(bg, &examplev1.WhoAmIRequest{}); err != nil {
		t.Fatal(err)
	}
	calls := w.greeter.calls()
	if len(calls) != 3 || proofClaims(t, calls[2].proof)["nonce"] == nil {
		t.Fatalf("%d WhoAmI calls, want the third with the remembered nonce", len(calls))
	}

	// A nonce expired meanwhile: the stream is re-opened once with the new one.
	w.authd.iss.Clock.Advance(dpop.DefaultNonceLifetime + 1)
	c2 := w.newClient(t, client.Config{DPoP: true})
	if err := c2.Login(bg, "alice", "pw"); err != nil {
		t.Fatal(err)
	}
	ticks, err := w.dialGreet(c2.DialOptions()...).Ticks(bg, &examplev1.TicksRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ticks.Recv(); err != nil {
		t.Fatal(err)
	}
	if n := len(w.greeter.calls()); n != 5 {
		t.Fatalf("%d greeter calls, want 5 (the stream refused once, then re-opened)", n)
	}
}

// A server that keeps refusing the nonce gets one retry, not a loop.
func TestDPoP_NonceRetryIsBounded(t *testing.T) {
	w := newDPoPWorld(t, false, true)
	c := w.newClient(t, client.Config{DPoP: true})
	if err := c.Login(bg, "alice", "pw"); err != nil {
		t.Fatal(err)
	}
	// Every nonce the greeter hands out has expired by the retry.
	greeter := w.dialGreet(append(c.DialOptions(), grpc.WithChainUnaryInterceptor(
		func(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
			w.authd.iss.Clock.Advance(dpop.DefaultNonceLifetime + 1)
			return invoker(ctx, method, req, reply, cc, opts...)
		}))...)
	_, err := greeter.WhoAmI(bg, &examplev1.WhoAmIRequest{})
	tokens.WantRefusal(t, err, codes.Unauthenticated, wire.ReasonDPoPNonceRequired)
	if n := len(w.greeter.calls()); n != 2 {
		t.Fatalf("%d WhoAmI calls, want 2", n)
	}
}

// The key is kept in the store with the tokens: a client restored from it
// uses the same key, and its calls go through. A store written before DPoP
// (bearer tokens, no key) keeps working: the tokens travel as Bearer
// tokens until the next login binds new ones.
func TestDPoP_FileStoreKeepsTheKey(t *testing.T) {
	w := newDPoPWorld(t, false, false)
	store := client.FileStore{Path: t.TempDir() + "/tokens.json"}

	old := w.newClient(t, client.Config{Store: store})
	if err := old.Login(bg, "alice", "pw"); err != nil {
		t.Fatal(err)
	}
	if readTokens(t, store.Path).DPoPKey != "" {
		t.Fatal("a key was stored without DPoP")
	}
	c := w.newClient(t, client.Config{Store: store, DPoP: true})
	greeter := w.dialGreet(c.DialOptions()...)
	if _, err := greeter.WhoAmI(bg, &examplev1.WhoAmIRequest{}); err != nil {
		t.Fatalf("the bearer session of an old store: %v", err)
	}
	if got := w.greeter.calls()[0].authorization; !strings.HasPrefix(got, "Bearer ") {
		t.Fatalf("an unbound token went as %q", got)
	}

	if err := c.Login(bg, "alice", "pw"); err != nil {
		t.Fatal(err)
	}
	stored := readTokens(t, store.Path)
	if stored != c.Tokens() || stored.DPoPKey == "" {
		t.Fatal("the store does not hold the bound tokens and their key")
	}
	restored := w.newClient(t, client.Config{Store: store}) // DPoP off: the stored key still serves
	if _, err := w.dialGreet(restored.DialOptions()...).WhoAmI(bg, &examplev1.WhoAmIRequest{}); err != nil {
		t.Fatalf("the restored bound session: %v", err)
	}
	if err := restored.Logout(bg); err != nil {
		t.Fatal(err)
	}
	if last := w.authd.seen[len(w.authd.seen)-1]; last.authorization != "DPoP "+stored.Access || last.proof == "" {
		t.Fatalf("Logout carried %q", last.authorization)
	}
}

// Credentials with DPoP get a token bound to their key and present it
// with a proof on every call; their DialOptions retry once for a nonce.
func TestClientCredentials_DPoP(t *testing.T) {
	w := newDPoPWorld(t, true, true)
	creds := client.ClientCredentials(w.authdConn, "reporter", "s3cret", nil,
		client.CredentialsConfig{DPoP: true, Insecure: true, Clock: w.authd.iss.Clock})
	greeter := w.dialGreet(creds.DialOptions()...)
	for range 2 {
		who, err := greeter.WhoAmI(bg, &examplev1.WhoAmIRequest{})
		if err != nil || who.Subject != "client:reporter" {
			t.Fatalf("WhoAmI = %v, %v", who, err)
		}
	}
	if n := w.authd.count(authv1.AuthService_IssueClientToken_FullMethodName); n != 2 {
		t.Fatalf("%d IssueClientToken calls, want 2 (one refused for a nonce)", n)
	}
	calls := w.greeter.calls()
	if len(calls) != 3 {
		t.Fatalf("%d greeter calls, want 3 (the first refused for a nonce)", len(calls))
	}
	tok := strings.TrimPrefix(calls[2].authorization, "DPoP ")
	if claimsOf(t, tok).Confirmation.GetJWKThumbprint() == "" || calls[2].proof == "" {
		t.Fatalf("the call carried %q, proof %q", calls[2].authorization, calls[2].proof)
	}
}

// guardedGreeter serves the example greeter behind a Guard that checks DPoP
// proofs with a verifier of its own (requiring nonces when nonce is set).
func (w *dpopWorld) guardedGreeter(t *testing.T, nonce bool, opts ...grpc.DialOption) examplev1.GreeterServiceClient {
	t.Helper()
	iss := w.authd.iss
	v := dpop.NewVerifier(dpop.Config{Clock: iss.Clock, RequireNonce: nonce})
	srv, err := greeter.NewServer(guard.New(iss.Verifier, guard.Config{PublicHealthAndReflection: true, DPoP: v, Clock: iss.Clock}), iss.Clock)
	if err != nil {
		t.Fatal(err)
	}
	return examplev1.NewGreeterServiceClient(tokens.Serve(t, srv, opts...))
}

// The client's proofs are what the guard wants: unary calls and streams go
// through, a nonce costs one retry (the guard's dpop-nonce), and the token
// without the client's proofs is refused with the guard's reasons.
func TestDPoP_WithTheGuard(t *testing.T) {
	w := newDPoPWorld(t, false, false)
	c := w.newClient(t, client.Config{DPoP: true})
	if err := c.Login(bg, "alice", "pw"); err != nil {
		t.Fatal(err)
	}
	var calls atomic.Int64
	count := grpc.WithChainUnaryInterceptor(func(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
		calls.Add(1) // inside the client's interceptor: every attempt
		return invoker(ctx, method, req, reply, cc, opts...)
	})
	for _, nonce := range []bool{false, true} {
		calls.Store(0)
		greeter := w.guardedGreeter(t, nonce, append(c.DialOptions(), count)...)
		for range 2 {
			who, err := greeter.WhoAmI(bg, &examplev1.WhoAmIRequest{})
			if err != nil || who.Subject != "alice" {
				t.Fatalf("nonce %v: WhoAmI = %v, %v", nonce, who, err)
			}
		}
		want := int64(2)
		if nonce {
			want = 3 // the first call of all learns the nonce
		}
		if calls.Load() != want {
			t.Fatalf("nonce %v: %d attempts for 2 calls, want %d", nonce, calls.Load(), want)
		}
		ticks, err := greeter.Ticks(bg, &examplev1.TicksRequest{Count: 1})
		if err != nil {
			t.Fatal(err)
		}
		if tick, err := ticks.Recv(); err != nil || tick.Subject != "alice" {
			t.Fatalf("nonce %v: Ticks = %v, %v", nonce, tick, err)
		}
	}

	stolen := w.guardedGreeter(t, false)
	access := c.Tokens().Access
	_, err := stolen.WhoAmI(tokens.Bearer(bg, access), &examplev1.WhoAmIRequest{})
	tokens.WantRefusal(t, err, codes.Unauthenticated, wire.ReasonDPoPProofRequired)
	thief, err := dpop.NewKey()
	if err != nil {
		t.Fatal(err)
	}
	proof, err := thief.Proof("POST", "http://bufnet/example.v1.GreeterService/WhoAmI", access, "", w.authd.iss.Clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	md := metadata.Pairs("authorization", "DPoP "+access, "dpop", proof)
	_, err = stolen.WhoAmI(metadata.NewOutgoingContext(bg, md), &examplev1.WhoAmIRequest{})
	tokens.WantRefusal(t, err, codes.Unauthenticated, wire.ReasonDPoPProofInvalid)
}
