package interceptors_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"

	"github.com/authd-dev/authd/authdtest/tokens"
	authv1 "github.com/authd-dev/authd/gen/auth/v1"
	examplev1 "github.com/authd-dev/authd/gen/example/v1"
	"github.com/authd-dev/authd/guard"
	"github.com/authd-dev/authd/protect"
	"github.com/authd-dev/authd/session"
	"github.com/authd-dev/authd/token"
	"github.com/authd-dev/authd/wire"
)

// sessionMax is the session cap of the renewals renewer hands out.
const sessionMax = 2 * time.Hour

// renewer renews as authd does: a non-fresh access token of the same
// subject, session and auth_time, for AccessTTL but never past the session
// cap (auth_time + sessionMax). It refuses tokens of a session in refused.
func renewer(iss *tokens.Issuer, refused func(sid string) bool) guard.RenewerFunc {
	return func(_ context.Context, _ string, old *token.Claims) (string, error) {
		if refused(old.SessionID) {
			return "", guard.ErrRevoked
		}
		c := iss.Claims(token.Access, old.Subject, old.SessionID)
		c.AuthTime = old.AuthTime
		if sessionCap := old.AuthenticatedAt().Add(sessionMax); sessionCap.Before(c.Expiry()) {
			c.ExpiresAt = jwt.NewNumericDate(sessionCap)
		}
		if !c.Expiry().After(old.Expiry()) {
			return "", session.ErrSessionCap
		}
		return iss.Signer.Sign(c)
	}
}

// renewService is the Renew of an authd, for protect.RemoteRenewer: it
// renews with r the token the call carries, and remembers the metadata it
// got.
type renewService struct {
	authv1.UnimplementedAuthServiceServer
	verifier guard.Verifier
	renewer  guard.Renewer

	mu sync.Mutex
	md []metadata.MD
}

func (s *renewService) Renew(ctx context.Context, _ *authv1.RenewRequest) (*authv1.RenewResponse, error) {
	md, _ := metadata.FromIncomingContext(ctx)
	s.mu.Lock()
	s.md = append(s.md, md)
	s.mu.Unlock()
	raw, err := bearerOf(md)
	if err != nil {
		return nil, wire.StatusError(err)
	}
	claims, err := s.verifier.Verify(ctx, raw)
	if err != nil {
		return nil, wire.StatusError(err)
	}
	tok, err := s.renewer.RenewAccess(ctx, raw, claims)
	if err != nil {
		return nil, wire.StatusError(err)
	}
	return &authv1.RenewResponse{AccessToken: tok}, nil
}

// bearerOf returns the token of md's one "Bearer <token>" authorization
// value (bearer parsing is the guard's, unexported: this stand-in for authd
// needs only the well-formed case).
func bearerOf(md metadata.MD) (string, error) {
	values := md.Get(wire.AuthorizationKey)
	if len(values) != 1 {
		return "", guard.ErrMissing
	}
	tok, found := strings.CutPrefix(values[0], "Bearer ")
	if !found || tok == "" {
		return "", guard.ErrMissing
	}
	return tok, nil
}

// renewalWorld is a greeter that renews through a renewer as above, in
// process or over AuthService.Renew, recording what it hands out. The
// greeter checks no revocations: a renewal refused for a revoked session is
// the renewer's doing.
type renewalWorld struct {
	iss     *tokens.Issuer
	greeter examplev1.GreeterServiceClient
	remote  *renewService // nil in process
	revoked sync.Map      // sid -> true

	mu     sync.Mutex
	issued []string // every renewal the renewer made
	asked  int      // every time it was asked
}

func newRenewalWorld(t *testing.T, remote bool, opts ...tokens.Option) *renewalWorld {
	t.Helper()
	w := &renewalWorld{iss: tokens.New(t, opts...)}
	inner := renewer(w.iss, func(sid string) bool { _, ok := w.revoked.Load(sid); return ok })
	recorded := guard.RenewerFunc(func(ctx context.Context, raw string, c *token.Claims) (string, error) {
		tok, err := inner(ctx, raw, c)
		w.mu.Lock()
		defer w.mu.Unlock()
		w.asked++
		if err == nil {
			w.issued = append(w.issued, tok)
		}
		return tok, err
	})
	var r guard.Renewer = recorded
	if remote {
		w.remote = &renewService{verifier: w.iss.Verifier, renewer: recorded}
		srv := grpc.NewServer()
		authv1.RegisterAuthServiceServer(srv, w.remote)
		r = protect.RemoteRenewer(tokens.Serve(t, srv))
	}
	w.greeter = newGreeter(t, w.iss, guard.Config{Renewer: r})
	return w
}

// renewals returns how often the renewer was asked and what it issued.
func (w *renewalWorld) renewals() (int, []string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.asked, slices.Clone(w.issued)
}

// whoAmI calls WhoAmI with tok and returns the renewal header ("" if none).
func (w *renewalWorld) whoAmI(t *testing.T, tok string) string {
	t.Helper()
	var header metadata.MD
	if _, err := w.greeter.WhoAmI(tokens.Bearer(bg, tok), &examplev1.WhoAmIRequest{}, grpc.Header(&header)); err != nil {
		t.Fatalf("WhoAmI: %v", err)
	}
	tok, err := renewal(header)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// renewal returns the renewal header's value, "" if none.
func renewal(header metadata.MD) (string, error) {
	vals := header.Get(wire.RenewalHeader)
	switch len(vals) {
	case 0:
		return "", nil
	case 1:
		return vals[0], nil
	}
	return "", fmt.Errorf("%d renewal headers", len(vals))
}

func TestRenewal_PastHalfLife(t *testing.T) {
	for _, remote := range []bool{false, true} {
		t.Run(map[bool]string{false: "in-process", true: "remote"}[remote], func(t *testing.T) {
			w := newRenewalWorld(t, remote)
			access := w.iss.FreshAccess(t, "alice", sid)
			old, err := w.iss.Verifier.Verify(bg, access)
			if err != nil {
				t.Fatal(err)
			}

			w.iss.Clock.Advance(7 * time.Minute)
			if got := w.whoAmI(t, access); got != "" {
				t.Fatal("renewed before half the token's life")
			}
			w.iss.Clock.Advance(time.Minute) // 8 of 15 minutes used
			renewed := w.whoAmI(t, access)
			if renewed == "" {
				t.Fatal("no renewal past half life")
			}
			if asked, issued := w.renewals(); asked != 1 || len(issued) != 1 || issued[0] != renewed {
				t.Fatalf("renewer asked %d times, issued %d; the header must carry the one renewal it made", asked, len(issued))
			}
			claims, err := w.iss.Verifier.Verify(bg, renewed)
			if err != nil {
				t.Fatal(err)
			}
			now := w.iss.Clock.Now()
			if claims.Type != token.Access || claims.FreshAt(now) || claims.Subject != "alice" ||
				claims.SessionID != old.SessionID || !claims.Expiry().Equal(now.Add(15*time.Minute)) ||
				!claims.AuthenticatedAt().Equal(old.AuthenticatedAt()) {
				t.Fatalf("renewed claims = %+v; want non-fresh access, same sub/sid/auth_time, exp now+15m", claims)
			}
			// The renewed token is good where the old one was.
			if got := w.whoAmI(t, renewed); got != "" {
				t.Fatal("a just-renewed token was renewed again")
			}
		})
	}
}

// RemoteRenewer sends authd the caller's token and nothing else of the
// call's metadata.
func TestRemoteRenewer_SendsOnlyTheToken(t *testing.T) {
	w := newRenewalWorld(t, true)
	access := w.iss.FreshAccess(t, "alice", sid)
	w.iss.Clock.Advance(10 * time.Minute)
	ctx := metadata.AppendToOutgoingContext(tokens.Bearer(bg, access), "x-caller-secret", "s3cret")
	var header metadata.MD
	if _, err := w.greeter.WhoAmI(ctx, &examplev1.WhoAmIRequest{}, grpc.Header(&header)); err != nil {
		t.Fatal(err)
	}
	if got, _ := renewal(header); got == "" {
		t.Fatal("no renewal")
	}
	w.remote.mu.Lock()
	defer w.remote.mu.Unlock()
	if len(w.remote.md) != 1 {
		t.Fatalf("%d Renew calls, want 1", len(w.remote.md))
	}
	md := w.remote.md[0]
	if got := md.Get(wire.AuthorizationKey); !slices.Equal(got, []string{"Bearer " + access}) {
		t.Fatalf("authorization = %q, want the caller's token", got)
	}
	if got := md.Get("x-caller-secret"); len(got) != 0 {
		t.Fatalf("the caller's other metadata reached authd: %q", got)
	}
}

func TestRenewal_OneRenewalPerTokenUnderConcurrency(t *testing.T) {
	w := newRenewalWorld(t, true)
	access := w.iss.FreshAccess(t, "alice", sid)
	w.iss.Clock.Advance(10 * time.Minute)
	var wg sync.WaitGroup
	got := make([]string, 50)
	errs := make([]error, len(got))
	for i := range got {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var header metadata.MD
			if _, errs[i] = w.greeter.WhoAmI(tokens.Bearer(bg, access), &examplev1.WhoAmIRequest{}, grpc.Header(&header)); errs[i] == nil {
				got[i], errs[i] = renewal(header)
			}
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	for i, tok := range got {
		if tok == "" || tok != got[0] {
			t.Fatalf("call %d got renewal %q, want the same one as call 0", i, tok)
		}
	}
	if asked, _ := w.renewals(); asked != 1 {
		t.Fatalf("%d renewals for one token, want 1", asked)
	}
}

func TestRenewal_Refused(t *testing.T) {
	// Each case has its own world: the cases move the clock.
	t.Run("refresh token", func(t *testing.T) {
		w := newRenewalWorld(t, true)
		refreshTok := w.iss.Refresh(t, "alice", sid)
		w.iss.Clock.Advance(13 * time.Hour)
		var header metadata.MD
		if _, err := w.greeter.SessionInfo(tokens.Bearer(bg, refreshTok), &examplev1.SessionInfoRequest{}, grpc.Header(&header)); err != nil {
			t.Fatal(err)
		}
		if got, err := renewal(header); got != "" || err != nil {
			t.Fatalf("a refresh token was renewed: %q, %v", got, err)
		}
		if asked, _ := w.renewals(); asked != 0 {
			t.Fatalf("renewer asked %d times", asked)
		}
	})
	t.Run("fresh-only method", func(t *testing.T) {
		w := newRenewalWorld(t, true)
		access := w.iss.FreshAccess(t, "alice", sid)
		w.iss.Clock.Advance(10 * time.Minute)
		var header metadata.MD
		if _, err := w.greeter.DeleteAccount(tokens.Bearer(bg, access), &examplev1.DeleteAccountRequest{}, grpc.Header(&header)); err != nil {
			t.Fatal(err)
		}
		if got, err := renewal(header); got != "" || err != nil {
			t.Fatalf("renewed on a FRESH_ACCESS method: %q, %v", got, err)
		}
		if asked, _ := w.renewals(); asked != 0 {
			t.Fatalf("renewer asked %d times", asked)
		}
	})
	t.Run("no session", func(t *testing.T) {
		// Only HS256 interop verifies tokens without a session (minted by
		// flask-jwt-extended, say); EdDSA verifiers refuse them outright.
		w := newRenewalWorld(t, true, tokens.WithHS256([]byte(strings.Repeat("s", 32))))
		access := w.iss.FreshAccess(t, "alice", "") // minted elsewhere, no sid
		w.iss.Clock.Advance(10 * time.Minute)
		if got := w.whoAmI(t, access); got != "" {
			t.Fatal("a token without a session was renewed")
		}
		if asked, _ := w.renewals(); asked != 0 {
			t.Fatalf("renewer asked %d times", asked)
		}
	})
	t.Run("revoked session", func(t *testing.T) {
		w := newRenewalWorld(t, true)
		access := w.iss.FreshAccess(t, "alice", sid)
		w.revoked.Store(sid, true)
		w.iss.Clock.Advance(10 * time.Minute)
		// This greeter does not check revocations, so the call passes; the
		// renewal must not.
		if got := w.whoAmI(t, access); got != "" {
			t.Fatal("a token of a revoked session was renewed")
		}
		// The refusal is remembered for 10 seconds, then asked again.
		w.iss.Clock.Advance(9 * time.Second)
		if got := w.whoAmI(t, access); got != "" {
			t.Fatal("renewed after a refusal")
		}
		if asked, _ := w.renewals(); asked != 1 {
			t.Fatalf("renewer asked %d times within 10s of a refusal, want 1", asked)
		}
		w.iss.Clock.Advance(time.Second)
		w.revoked.Delete(sid)
		if got := w.whoAmI(t, access); got == "" {
			t.Fatal("not asked again 10s after a refusal")
		}
	})
	t.Run("session cap", func(t *testing.T) {
		w := newRenewalWorld(t, true)
		tok := w.iss.FreshAccess(t, "alice", sid)
		first, err := w.iss.Verifier.Verify(bg, tok)
		if err != nil {
			t.Fatal(err)
		}
		sessionCap := first.AuthenticatedAt().Add(sessionMax)
		// A call a minute slides the session until its cap...
		for w.iss.Clock.Now().Before(sessionCap.Add(-2 * time.Minute)) {
			w.iss.Clock.Advance(time.Minute)
			if next := w.whoAmI(t, tok); next != "" {
				tok = next
			}
		}
		claims, err := w.iss.Verifier.Verify(bg, tok)
		if err != nil {
			t.Fatal(err)
		}
		if !claims.Expiry().Equal(sessionCap) {
			t.Fatalf("sliding ended at %v, want the cap %v", claims.Expiry(), sessionCap)
		}
		// ...and not past it.
		w.iss.Clock.Advance(time.Minute)
		if got := w.whoAmI(t, tok); got != "" {
			t.Fatal("renewed at the session cap")
		}
	})
}

func TestRenewal_StreamHeader(t *testing.T) {
	w := newRenewalWorld(t, false)
	access := w.iss.FreshAccess(t, "alice", sid)
	w.iss.Clock.Advance(9 * time.Minute)
	stream, err := w.greeter.Ticks(tokens.Bearer(bg, access), &examplev1.TicksRequest{Count: 1})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := stream.Recv(); err != nil {
		t.Fatal(err)
	}
	header, err := stream.Header()
	if err != nil {
		t.Fatal(err)
	}
	renewed, err := renewal(header)
	if err != nil {
		t.Fatal(err)
	}
	if renewed == "" {
		t.Fatal("no renewal header on a stream past half life")
	}
	if _, err := w.iss.Verifier.Verify(bg, renewed); err != nil {
		t.Fatal(err)
	}
}
