package guard_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"errors"
	"math/big"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/authd-dev/authd/authdtest/tokens"
	"github.com/authd-dev/authd/guard"
	"github.com/authd-dev/authd/token"
	"github.com/authd-dev/authd/wire"
)

var bg = context.Background()

// sid is the session of the tokens the tests mint.
const sid = "session-1"

// The methods of the tests' Guards, one per requirement, declared in
// Config.Methods: no gRPC server, no descriptors.
const (
	publicMethod   = "/test.v1.Guarded/Public"
	accessMethod   = "/test.v1.Guarded/Access"
	freshMethod    = "/test.v1.Guarded/FreshAccess"
	refreshMethod  = "/test.v1.Guarded/Refresh"
	optionalMethod = "/test.v1.Guarded/Optional"
)

var methods = map[string]guard.Rule{
	publicMethod:   {Requirement: guard.Public},
	accessMethod:   {Requirement: guard.Access},
	freshMethod:    {Requirement: guard.FreshAccess},
	refreshMethod:  {Requirement: guard.Refresh},
	optionalMethod: {Requirement: guard.Optional},
}

// newGuard returns a Guard verifying iss's tokens on its clock, with the
// test methods and what cfg sets besides.
func newGuard(iss *tokens.Issuer, cfg guard.Config) *guard.Guard {
	cfg.Methods, cfg.Clock = methods, iss.Clock
	return newGuardWith(iss.Verifier, cfg)
}

func newGuardWith(v guard.Verifier, cfg guard.Config) *guard.Guard {
	if cfg.Methods == nil {
		cfg.Methods = methods
	}
	return guard.New(v, cfg)
}

// bearer is the authorization of a call presenting tok.
func bearer(tok string) []string { return []string{"Bearer " + tok} }

// call is a call of method presenting tok ("" for none).
func call(method, tok string) guard.Call {
	c := guard.Call{Method: method}
	if tok != "" {
		c.Authorization = bearer(tok)
	}
	return c
}

// wantRefusal fails unless err is a refusal with code and reason, as a
// transport's adapter would send it.
func wantRefusal(t *testing.T, err error, code codes.Code, reason string) {
	t.Helper()
	if err == nil {
		t.Fatalf("allowed; want %v %q", code, reason)
	}
	st := wire.StatusError(err)
	if status.Code(st) != code || wire.Reason(st) != reason {
		t.Fatalf("refusal %v (%v %q); want %v %q", err, status.Code(st), wire.Reason(st), code, reason)
	}
}

// revocationsFunc adapts a function to guard.Revocations.
type revocationsFunc func(context.Context, *token.Claims) (bool, error)

func (f revocationsFunc) Revoked(ctx context.Context, c *token.Claims) (bool, error) {
	return f(ctx, c)
}

// countingVerifier counts signature checks.
type countingVerifier struct {
	*token.Verifier
	n atomic.Int64
}

func (c *countingVerifier) Verify(ctx context.Context, raw string) (*token.Claims, error) {
	c.n.Add(1)
	return c.Verifier.Verify(ctx, raw)
}

// Exactly one well-formed "Bearer <token>" is a credential; everything
// else is TOKEN_MISSING (guard.ErrMissing), never a token picked out of it.
func TestDecide_Bearer(t *testing.T) {
	iss := tokens.New(t)
	g := newGuard(iss, guard.Config{})
	tok := iss.FreshAccess(t, "alice", sid)
	for _, tc := range []struct {
		name   string
		values []string
	}{
		{"none", nil},
		{"empty", []string{""}},
		{"two values", []string{"Bearer " + tok, "Bearer " + tok}},
		{"wrong scheme", []string{"Token " + tok}},
		{"basic", []string{"Basic YWxhZGRpbjpvcGVuc2VzYW1l"}},
		{"scheme only", []string{"Bearer"}},
		{"scheme and space only", []string{"Bearer "}},
		{"extra space", []string{"Bearer  " + tok}},
		{"trailing space", []string{"Bearer " + tok + " "}},
		{"tab for the space", []string{"Bearer\t" + tok}},
		{"tab in token", []string{"Bearer " + tok[:10] + "\t" + tok[10:]}},
		{"newline in token", []string{"Bearer " + tok[:10] + "\n" + tok[10:]}},
		{"bare token", []string{tok}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, method := range []string{accessMethod, freshMethod, refreshMethod} {
				d, err := g.Decide(bg, guard.Call{Method: method, Authorization: tc.values})
				if !errors.Is(err, guard.ErrMissing) {
					t.Fatalf("%s: err = %v; want guard.ErrMissing", method, err)
				}
				wantRefusal(t, err, codes.Unauthenticated, wire.ReasonTokenMissing)
				if d.Claims != nil {
					t.Fatalf("%s: a refusal came with claims", method)
				}
			}
		})
	}
	for _, scheme := range []string{"Bearer", "bearer", "BEARER"} {
		d, err := g.Decide(bg, guard.Call{Method: accessMethod, Authorization: []string{scheme + " " + tok}})
		if err != nil || d.Claims == nil || d.Claims.Subject != "alice" {
			t.Fatalf("scheme %q: %+v, %v; want alice's claims", scheme, d.Claims, err)
		}
	}
}

// OPTIONAL: no token at all runs anonymously; a token sent is checked like
// any other, and a malformed header is no "no token".
func TestDecide_Optional(t *testing.T) {
	iss := tokens.New(t)
	g := newGuard(iss, guard.Config{})
	for _, values := range [][]string{nil, {""}} {
		d, err := g.Decide(bg, guard.Call{Method: optionalMethod, Authorization: values})
		if err != nil || d.Claims != nil {
			t.Fatalf("no token (%q): %+v, %v; want allowed without claims", values, d.Claims, err)
		}
	}
	for _, values := range [][]string{{"Bearer "}, {"Basic x"}, {"Bearer a", "Bearer b"}} {
		_, err := g.Decide(bg, guard.Call{Method: optionalMethod, Authorization: values})
		if !errors.Is(err, guard.ErrMissing) {
			t.Fatalf("%q: %v; want guard.ErrMissing", values, err)
		}
	}
	d, err := g.Decide(bg, call(optionalMethod, iss.Access(t, "alice", sid)))
	if err != nil || d.Claims == nil || d.Claims.Subject != "alice" {
		t.Fatalf("with a token: %+v, %v", d.Claims, err)
	}
	_, err = g.Decide(bg, call(optionalMethod, iss.Expired(t, "alice", sid)))
	wantRefusal(t, err, codes.Unauthenticated, wire.ReasonTokenExpired)
	_, err = g.Decide(bg, call(optionalMethod, iss.Refresh(t, "alice", sid)))
	wantRefusal(t, err, codes.Unauthenticated, wire.ReasonWrongTokenType)
}

// PUBLIC ignores whatever the call presents, and hands no claims on.
func TestDecide_PublicIgnoresToken(t *testing.T) {
	iss := tokens.New(t)
	revocations := revocationsFunc(func(context.Context, *token.Claims) (bool, error) {
		t.Error("a PUBLIC call asked about revocations")
		return true, nil
	})
	g := newGuard(iss, guard.Config{Revocations: revocations})
	for name, values := range map[string][]string{
		"none":          nil,
		"valid token":   bearer(iss.FreshAccess(t, "alice", sid)),
		"expired token": bearer(iss.Expired(t, "alice", sid)),
		"garbage":       bearer("not.a.token"),
		"wrong scheme":  {"Basic x"},
		"two values":    {"Bearer a", "Bearer b"},
	} {
		d, err := g.Decide(bg, guard.Call{Method: publicMethod, Authorization: values})
		if err != nil || d.Claims != nil {
			t.Errorf("%s: %+v, %v; want allowed without claims", name, d.Claims, err)
		}
	}
}

// The outcome of each kind of token per requirement, without a transport.
func TestDecide_Requirements(t *testing.T) {
	iss := tokens.New(t)
	g := newGuard(iss, guard.Config{})
	toks := map[string]string{
		"fresh":     iss.FreshAccess(t, "alice", sid),
		"non-fresh": iss.Access(t, "alice", sid),
		"refresh":   iss.Refresh(t, "alice", sid),
		"expired":   iss.Expired(t, "alice", sid),
		"forged":    tokens.New(t, tokens.WithClock(iss.Clock)).FreshAccess(t, "alice", sid),
	}
	const ok = ""
	for _, tc := range []struct {
		tok    string
		method string
		want   string
	}{
		{"fresh", accessMethod, ok},
		{"fresh", freshMethod, ok},
		{"fresh", refreshMethod, wire.ReasonWrongTokenType},
		{"non-fresh", accessMethod, ok},
		{"non-fresh", freshMethod, wire.ReasonFreshTokenRequired},
		{"refresh", accessMethod, wire.ReasonWrongTokenType},
		{"refresh", freshMethod, wire.ReasonWrongTokenType},
		{"refresh", optionalMethod, wire.ReasonWrongTokenType},
		{"refresh", refreshMethod, ok},
		{"expired", accessMethod, wire.ReasonTokenExpired},
		{"expired", refreshMethod, wire.ReasonTokenExpired},
		{"forged", accessMethod, wire.ReasonTokenInvalid},
		{"forged", optionalMethod, wire.ReasonTokenInvalid},
	} {
		d, err := g.Decide(bg, call(tc.method, toks[tc.tok]))
		if tc.want == ok {
			if err != nil || d.Claims == nil {
				t.Errorf("%s on %s: %v; want allowed with claims", tc.tok, tc.method, err)
			}
			continue
		}
		t.Run(tc.tok+" on "+tc.method, func(t *testing.T) { wantRefusal(t, err, codes.Unauthenticated, tc.want) })
	}
}

// DecideRule answers as a method declaring the rule would, whatever the
// call's method declares.
func TestDecideRule(t *testing.T) {
	iss := tokens.New(t)
	g := newGuard(iss, guard.Config{})
	admin := iss.Access(t, "alice", sid, tokens.WithRoles("admin"))
	user := iss.Access(t, "alice", sid, tokens.WithRoles("user"), tokens.WithScopes("orders:read"))
	refresh := iss.Refresh(t, "alice", sid)

	// The rule, not the method's (PUBLIC), decides.
	_, err := g.DecideRule(bg, guard.Rule{Requirement: guard.Access}, call(publicMethod, ""))
	if !errors.Is(err, guard.ErrMissing) {
		t.Fatalf("ACCESS rule on a public method, no token: %v; want guard.ErrMissing", err)
	}
	// An unspecified requirement is ACCESS.
	_, err = g.DecideRule(bg, guard.Rule{}, call(publicMethod, refresh))
	if !errors.Is(err, guard.ErrAccessRequired) {
		t.Fatalf("empty rule, refresh token: %v; want guard.ErrAccessRequired", err)
	}
	d, err := g.DecideRule(bg, guard.Rule{Requirement: guard.Refresh}, call(accessMethod, refresh))
	if err != nil || d.Claims == nil || d.Claims.Type != token.Refresh {
		t.Fatalf("REFRESH rule, refresh token: %+v, %v", d.Claims, err)
	}
	// PUBLIC hands on no claims, even with a valid token.
	if d, err := g.DecideRule(bg, guard.Rule{Requirement: guard.Public}, call(accessMethod, admin)); err != nil || d.Claims != nil {
		t.Fatalf("PUBLIC rule: %+v, %v; want allowed without claims", d.Claims, err)
	}

	// Roles and scopes: PermissionDenied naming what is required.
	roles := guard.Rule{AnyRole: []string{"admin", "support"}}
	if _, err := g.DecideRule(bg, roles, call("", admin)); err != nil {
		t.Fatalf("admin on an admin rule: %v", err)
	}
	_, err = g.DecideRule(bg, roles, call("", user))
	if !errors.Is(err, guard.ErrInsufficientRole) {
		t.Fatalf("user on an admin rule: %v; want guard.ErrInsufficientRole", err)
	}
	wantRefusal(t, err, codes.PermissionDenied, wire.ReasonInsufficientRole)
	var e *wire.Error
	if !errors.As(err, &e) || e.Metadata[wire.MetadataRequiredRoles] != "admin support" {
		t.Fatalf("refusal %#v; want required_roles \"admin support\"", err)
	}
	scopes := guard.Rule{AllScopes: []string{"orders:read", "orders:write"}}
	_, err = g.DecideRule(bg, scopes, call("", user))
	wantRefusal(t, err, codes.PermissionDenied, wire.ReasonInsufficientScope)
	if !errors.As(err, &e) || e.Metadata[wire.MetadataRequiredScopes] != "orders:read orders:write" {
		t.Fatalf("refusal %#v; want required_scopes", err)
	}
	if _, err := g.DecideRule(bg, guard.Rule{AllScopes: []string{"orders:read"}}, call("", user)); err != nil {
		t.Fatalf("user with orders:read on an orders:read rule: %v", err)
	}
	// Authentication first: no token is TOKEN_MISSING, not PermissionDenied.
	_, err = g.DecideRule(bg, roles, call("", ""))
	wantRefusal(t, err, codes.Unauthenticated, wire.ReasonTokenMissing)

	// A rule that contradicts itself fails closed, as Internal.
	_, err = g.DecideRule(bg, guard.Rule{Requirement: guard.Public, AnyRole: []string{"admin"}}, call("", admin))
	if err == nil || wire.Known(err) {
		t.Fatalf("PUBLIC rule with a role: %v; want an Internal failure", err)
	}
}

// Authenticate takes a valid token of either type, and checks it as every
// rule does: expiry, binding, revocation.
func TestAuthenticate_EitherTokenType(t *testing.T) {
	iss := tokens.New(t)
	g := newGuard(iss, guard.Config{Revocations: revocationsFunc(func(_ context.Context, c *token.Claims) (bool, error) {
		return c.SessionID == "revoked", nil
	})})
	for _, tc := range []struct {
		tok  string
		want token.Type
	}{
		{iss.FreshAccess(t, "alice", sid), token.Access},
		{iss.Access(t, "alice", sid), token.Access},
		{iss.Refresh(t, "alice", sid), token.Refresh},
	} {
		c, err := g.Authenticate(bg, call(refreshMethod, tc.tok))
		if err != nil || c.Type != tc.want || c.Subject != "alice" {
			t.Fatalf("Authenticate(%s token) = %+v, %v", tc.want, c, err)
		}
	}
	_, err := g.Authenticate(bg, call(publicMethod, ""))
	if !errors.Is(err, guard.ErrMissing) {
		t.Fatalf("no token: %v; want guard.ErrMissing", err)
	}
	_, err = g.Authenticate(bg, call(publicMethod, iss.Expired(t, "alice", sid)))
	wantRefusal(t, err, codes.Unauthenticated, wire.ReasonTokenExpired)
	_, err = g.Authenticate(bg, call(publicMethod, iss.Refresh(t, "alice", "revoked")))
	if !errors.Is(err, guard.ErrRevoked) {
		t.Fatalf("revoked session: %v; want guard.ErrRevoked", err)
	}
}

// renewCounter is a Renewer that mints a non-fresh access token of the
// same session, and counts what it was asked.
type renewCounter struct {
	iss   *tokens.Issuer
	asked atomic.Int64
	mu    sync.Mutex
	raws  []string // the tokens it was asked to renew
}

func (r *renewCounter) renewer() guard.RenewerFunc {
	return func(_ context.Context, raw string, old *token.Claims) (string, error) {
		r.asked.Add(1)
		r.mu.Lock()
		r.raws = append(r.raws, raw)
		r.mu.Unlock()
		c := r.iss.Claims(token.Access, old.Subject, old.SessionID)
		c.AuthTime = old.AuthTime
		return r.iss.Signer.Sign(c)
	}
}

// An ACCESS call past half its token's life gets one renewal per token,
// however often, and concurrently, it is asked; FRESH_ACCESS calls and
// refresh tokens never do.
func TestRenewal(t *testing.T) {
	iss := tokens.New(t)
	r := &renewCounter{iss: iss}
	// A generous timeout: this test is about one renewal per token, not
	// about a renewer slower than the default bound (as under a loaded -race run).
	g := newGuard(iss, guard.Config{Renewer: r.renewer(), RenewalTimeout: time.Minute})
	access := iss.FreshAccess(t, "alice", sid)
	refresh := iss.Refresh(t, "alice", sid)
	decide := func(method, tok string) guard.Decision {
		t.Helper()
		d, err := g.Decide(bg, call(method, tok))
		if err != nil {
			t.Fatal(err)
		}
		return d
	}

	iss.Clock.Advance(7 * time.Minute) // of 15: not due
	if got := g.Renewal(bg, decide(accessMethod, access)); got != "" || r.asked.Load() != 0 {
		t.Fatalf("renewed before half the token's life: %q (renewer asked %d times)", got, r.asked.Load())
	}
	iss.Clock.Advance(time.Minute) // 8 of 15: due

	// FRESH_ACCESS: never, although due.
	if got := g.Renewal(bg, decide(freshMethod, access)); got != "" || r.asked.Load() != 0 {
		t.Fatalf("renewed on a FRESH_ACCESS call: %q (renewer asked %d times)", got, r.asked.Load())
	}
	// A refresh token: never.
	if got := g.Renewal(bg, decide(refreshMethod, refresh)); got != "" || r.asked.Load() != 0 {
		t.Fatalf("renewed a refresh token: %q", got)
	}

	d := decide(accessMethod, access)
	got := make([]string, 20)
	var wg sync.WaitGroup
	for i := range got {
		wg.Add(1)
		go func() {
			defer wg.Done()
			got[i] = g.Renewal(bg, d)
		}()
	}
	wg.Wait()
	for i, tok := range got {
		if tok == "" || tok != got[0] {
			t.Fatalf("call %d got renewal %q, want the same one as call 0", i, tok)
		}
	}
	if again := g.Renewal(bg, decide(optionalMethod, access)); again != got[0] {
		t.Fatalf("a later call with the same token got %q, want the renewal already made", again)
	}
	if n := r.asked.Load(); n != 1 {
		t.Fatalf("renewer asked %d times for one token, want 1", n)
	}
	if r.raws[0] != access {
		t.Fatal("the renewer was not handed the call's token")
	}
	renewed, err := iss.Verifier.Verify(bg, got[0])
	if err != nil || renewed.SessionID != sid || renewed.FreshAt(iss.Clock.Now()) {
		t.Fatalf("renewed token: %+v, %v", renewed, err)
	}
	// The renewed token is not due yet.
	if tok := g.Renewal(bg, decide(accessMethod, got[0])); tok != "" {
		t.Fatal("a just-renewed token was renewed again")
	}

	// Without a Renewer, nothing.
	if tok := newGuard(iss, guard.Config{}).Renewal(bg, d); tok != "" {
		t.Fatalf("renewal without a Renewer: %q", tok)
	}
}

// waitDone waits (in real time, bounded) for the timer goroutine the fake
// clock started to end ctx.
func waitDone(t *testing.T, ctx context.Context) {
	t.Helper()
	select {
	case <-ctx.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("the watched call never ended")
	}
}

// A watched call ends when its token expires: not one moment later, and
// not before.
func TestWatch_EndsAtExpiry(t *testing.T) {
	iss := tokens.New(t)
	g := newGuard(iss, guard.Config{})
	d, err := g.Decide(bg, call(accessMethod, iss.FreshAccess(t, "alice", sid)))
	if err != nil {
		t.Fatal(err)
	}
	ctx, stop := g.Watch(bg, d)
	defer stop()
	iss.Clock.Advance(tokens.AccessTTL - time.Second)
	if err := g.Ended(ctx, d); err != nil || ctx.Err() != nil {
		t.Fatalf("a second before exp: %v, %v", err, ctx.Err())
	}
	iss.Clock.Advance(time.Second)
	// Read on the clock: ended at exp, whenever the timer runs.
	if err := g.Ended(ctx, d); !errors.Is(err, token.ErrExpired) {
		t.Fatalf("at exp: Ended = %v, want token.ErrExpired", err)
	}
	waitDone(t, ctx)
	if !errors.Is(context.Cause(ctx), token.ErrExpired) {
		t.Fatalf("cause %v, want token.ErrExpired", context.Cause(ctx))
	}
	wantRefusal(t, g.Ended(ctx, d), codes.Unauthenticated, wire.ReasonTokenExpired)
}

// A call without claims (PUBLIC, or OPTIONAL without a token) is not
// watched.
func TestWatch_NoClaims(t *testing.T) {
	iss := tokens.New(t)
	g := newGuard(iss, guard.Config{})
	d, err := g.Decide(bg, call(publicMethod, ""))
	if err != nil {
		t.Fatal(err)
	}
	ctx, stop := g.Watch(bg, d)
	defer stop()
	if ctx != bg {
		t.Fatal("a call without claims got a watched context")
	}
	iss.Clock.Advance(24 * time.Hour)
	if err := g.Ended(ctx, d); err != nil {
		t.Fatalf("Ended = %v", err)
	}
}

// A watched call's session is asked about again every
// StreamRevocationCheck: revoked ends the call with TOKEN_REVOKED, a check
// that fails ends it closed (ErrUnavailable), within one interval.
func TestWatch_Revocations(t *testing.T) {
	for _, tc := range []struct {
		name string
		want error
		code codes.Code
		why  string
	}{
		{"revoked", guard.ErrRevoked, codes.Unauthenticated, wire.ReasonTokenRevoked},
		{"check fails", guard.ErrUnavailable, codes.Unavailable, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			iss := tokens.New(t)
			var turned atomic.Bool
			var asked atomic.Int64
			g := newGuard(iss, guard.Config{
				StreamRevocationCheck: 2 * time.Second,
				Revocations: revocationsFunc(func(context.Context, *token.Claims) (bool, error) {
					asked.Add(1)
					switch {
					case !turned.Load():
						return false, nil
					case tc.want == guard.ErrRevoked:
						return true, nil
					}
					return false, errors.New("store down")
				}),
			})
			d, err := g.Decide(bg, call(accessMethod, iss.FreshAccess(t, "alice", sid)))
			if err != nil {
				t.Fatal(err)
			}
			ctx, stop := g.Watch(bg, d)
			defer stop()
			// The expiry and the revocation check.
			if !iss.Clock.WaitForTimers(2, 10*time.Second) {
				t.Fatal("the timers of a watched call were never armed")
			}
			iss.Clock.Advance(2 * time.Second) // a check while the session is live
			if !iss.Clock.WaitForTimers(2, 10*time.Second) {
				t.Fatal("the revocation check was not armed again after a live answer")
			}
			if err := g.Ended(ctx, d); err != nil || asked.Load() != 2 {
				t.Fatalf("after a live answer: Ended = %v, asked %d times (want 2: the Decide and the check)", err, asked.Load())
			}
			turned.Store(true)
			iss.Clock.Advance(2*time.Second - time.Millisecond)
			if err := g.Ended(ctx, d); err != nil || ctx.Err() != nil {
				t.Fatalf("before the next check: Ended = %v, %v", err, ctx.Err())
			}
			iss.Clock.Advance(time.Millisecond)
			waitDone(t, ctx)
			err = g.Ended(ctx, d)
			if !errors.Is(err, tc.want) {
				t.Fatalf("Ended = %v, want %v", err, tc.want)
			}
			wantRefusal(t, err, tc.code, tc.why)
		})
	}
}

// newCert returns a self-signed client certificate.
func newCert(t *testing.T, name string) *x509.Certificate {
	t.Helper()
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: name},
		NotBefore:    tokens.Start.Add(-time.Hour),
		NotAfter:     tokens.Start.Add(24 * time.Hour),
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, pub, priv)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return cert
}

// thumbprint is a certificate's x5t#S256 (RFC 8705).
func thumbprint(cert *x509.Certificate) string {
	sum := sha256.Sum256(cert.Raw)
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// boundToken mints an access token whose cnf is cnf.
func boundToken(t *testing.T, iss *tokens.Issuer, cnf *token.Confirmation) string {
	t.Helper()
	c := iss.Claims(token.Access, "alice", sid)
	c.Confirmation = cnf
	return iss.Sign(t, c)
}

// A token bound to a certificate is accepted only from a call presenting
// that certificate: on the first call, and on every call after a
// successful one cached it (the cache holds what the token says, never
// what a call proved).
func TestBinding_CertificateThumbprint(t *testing.T) {
	iss := tokens.New(t)
	mine, other := newCert(t, "billing"), newCert(t, "intruder")
	tok := boundToken(t, iss, &token.Confirmation{CertificateThumbprint: thumbprint(mine)})
	refused := func(t *testing.T, g *guard.Guard, cert *x509.Certificate) {
		t.Helper()
		c := guard.Call{Method: accessMethod, Authorization: bearer(tok), PeerCertificate: cert}
		d, err := g.Decide(bg, c)
		if !errors.Is(err, guard.ErrUnbound) || d.Claims != nil {
			t.Fatalf("Decide: %+v, %v; want guard.ErrUnbound", d.Claims, err)
		}
		wantRefusal(t, err, codes.Unauthenticated, wire.ReasonTokenInvalid)
		if _, err := g.DecideRule(bg, guard.Rule{Requirement: guard.Optional}, c); !errors.Is(err, guard.ErrUnbound) {
			t.Fatalf("DecideRule: %v; want guard.ErrUnbound", err)
		}
		if _, err := g.Authenticate(bg, c); !errors.Is(err, guard.ErrUnbound) {
			t.Fatalf("Authenticate: %v; want guard.ErrUnbound", err)
		}
	}
	accepted := func(t *testing.T, g *guard.Guard) {
		t.Helper()
		d, err := g.Decide(bg, guard.Call{Method: accessMethod, Authorization: bearer(tok), PeerCertificate: mine})
		if err != nil || d.Claims == nil || d.Claims.Confirmation == nil || d.Claims.Confirmation.CertificateThumbprint != thumbprint(mine) {
			t.Fatalf("with its certificate: %+v, %v", d.Claims, err)
		}
	}

	for _, tc := range []struct {
		name string
		cert *x509.Certificate
	}{{"no certificate", nil}, {"another certificate", other}} {
		t.Run("first call/"+tc.name, func(t *testing.T) {
			refused(t, newGuard(iss, guard.Config{}), tc.cert)
		})
	}

	for _, size := range []int{0, -1} {
		t.Run(map[int]string{0: "cache on", -1: "cache off"}[size], func(t *testing.T) {
			v := &countingVerifier{Verifier: iss.Verifier}
			g := newGuardWith(v, guard.Config{Clock: iss.Clock, CacheSize: size})
			accepted(t, g)
			refused(t, g, nil)
			refused(t, g, other)
			accepted(t, g)
			if size == 0 && v.n.Load() != 1 {
				t.Fatalf("%d signature checks, want 1: the later calls must have come from the cache", v.n.Load())
			}
		})
	}
}

// A token bound to a key (DPoP's jkt) by a Guard without Config.DPoP, or
// by a confirmation method the guard does not check, is refused whatever
// the call presents.
func TestBinding_UncheckedConfirmationsAreRefused(t *testing.T) {
	iss := tokens.New(t)
	g := newGuard(iss, guard.Config{})
	cert := newCert(t, "billing")
	for name, cnf := range map[string]*token.Confirmation{
		"jkt":              {JWKThumbprint: "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I"},
		"jkt and x5t#S256": {JWKThumbprint: "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I", CertificateThumbprint: thumbprint(cert)},
		"empty cnf":        {},
	} {
		t.Run(name, func(t *testing.T) {
			tok := boundToken(t, iss, cnf)
			for _, peer := range []*x509.Certificate{nil, cert} {
				_, err := g.Decide(bg, guard.Call{Method: accessMethod, Authorization: bearer(tok), PeerCertificate: peer})
				if !errors.Is(err, guard.ErrUnbound) {
					t.Fatalf("certificate %v: %v; want guard.ErrUnbound", peer != nil, err)
				}
				wantRefusal(t, err, codes.Unauthenticated, wire.ReasonTokenInvalid)
			}
		})
	}
	// And a token without cnf needs no certificate, but takes one.
	plain := iss.Access(t, "alice", sid)
	for _, peer := range []*x509.Certificate{nil, cert} {
		if _, err := g.Decide(bg, guard.Call{Method: accessMethod, Authorization: bearer(plain), PeerCertificate: peer}); err != nil {
			t.Fatalf("unbound token, certificate %v: %v", peer != nil, err)
		}
	}
}

// Revocations are asked after the cache, on every call: a token accepted
// (and cached) is refused as soon as its session is revoked, and a check
// that fails fails the call closed.
func TestRevocations_AfterTheCache(t *testing.T) {
	iss := tokens.New(t)
	v := &countingVerifier{Verifier: iss.Verifier}
	var asked atomic.Int64
	var down atomic.Bool
	g := newGuardWith(v, guard.Config{Clock: iss.Clock, Revocations: revocationsFunc(func(context.Context, *token.Claims) (bool, error) {
		if down.Load() {
			return false, errors.New("store down")
		}
		return asked.Add(1) > 1, nil // revoked after the first call
	})})
	c := call(accessMethod, iss.Access(t, "alice", sid))
	if _, err := g.Decide(bg, c); err != nil {
		t.Fatal(err)
	}
	_, err := g.Decide(bg, c)
	if !errors.Is(err, guard.ErrRevoked) {
		t.Fatalf("second call: %v; want guard.ErrRevoked", err)
	}
	wantRefusal(t, err, codes.Unauthenticated, wire.ReasonTokenRevoked)
	if v.n.Load() != 1 || asked.Load() != 2 {
		t.Fatalf("%d signature checks and %d revocation checks; want 1 (cached) and 2 (every call)", v.n.Load(), asked.Load())
	}
	down.Store(true)
	_, err = g.Decide(bg, c)
	if !errors.Is(err, guard.ErrUnavailable) {
		t.Fatalf("checker down: %v; want guard.ErrUnavailable", err)
	}
	wantRefusal(t, err, codes.Unavailable, "")
}

// Rule and CheckMethods, without a server: what each method resolves to,
// and the names of methods relying on the default.
func TestRuleAndCheckMethods(t *testing.T) {
	iss := tokens.New(t)
	g := newGuard(iss, guard.Config{Default: guard.Optional})
	for method, want := range map[string]guard.Requirement{
		publicMethod:                 guard.Public,
		freshMethod:                  guard.FreshAccess,
		"/test.v1.Guarded/Nope":      guard.Optional,
		"/auth.v1.AuthService/Login": guard.Public, // its proto option
	} {
		if got := g.Rule(method).Requirement; got != want {
			t.Errorf("Rule(%s) = %v, want %v", method, got, want)
		}
	}
	served := []string{publicMethod, accessMethod, freshMethod, refreshMethod, optionalMethod, "/test.v1.Guarded/Nope"}
	err := g.CheckMethods(served)
	var undeclared *guard.UndeclaredError
	if !errors.As(err, &undeclared) || len(undeclared.Methods) != 1 || undeclared.Methods[0] != "/test.v1.Guarded/Nope" {
		t.Fatalf("CheckMethods = %v; want Nope named", err)
	}
	err = g.CheckMethods(served[:4])
	var unknown *guard.UnknownNameError
	if !errors.As(err, &unknown) || unknown.Field != "Methods" || unknown.Name != optionalMethod ||
		!strings.Contains(err.Error(), "no such method is served") {
		t.Fatalf("CheckMethods without Optional served = %v; want an UnknownNameError naming it", err)
	}
}
