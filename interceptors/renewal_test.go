package interceptors_test

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"

	"github.com/authd-dev/authd/examples/greeter"
	authv1 "github.com/authd-dev/authd/gen/auth/v1"
	examplev1 "github.com/authd-dev/authd/gen/example/v1"
	"github.com/authd-dev/authd/interceptors"
	"github.com/authd-dev/authd/internal/authdtest"
	"github.com/authd-dev/authd/service"
	"github.com/authd-dev/authd/token"
	"github.com/authd-dev/authd/wire"
)

// renewalWorld is authd with a 2-hour session cap and a greeter that renews
// through r, counting renewals. The greeter checks no revocations, so a
// renewal refused for a revoked session is the renewer's doing.
type renewalWorld struct {
	authd   *authdtest.Env
	greeter examplev1.GreeterServiceClient
	renewed atomic.Int64
}

func newRenewalWorld(t *testing.T, remote bool) *renewalWorld {
	t.Helper()
	w := &renewalWorld{authd: authdtest.New(t, authdtest.WithServiceOptions(service.WithSessionMax(2*time.Hour)))}
	e := w.authd
	e.AddUser(t, "alice", "pw")
	var r interceptors.Renewer = e.Service
	if remote {
		r = interceptors.RemoteRenewer(e.Conn)
	}
	counted := interceptors.RenewerFunc(func(ctx context.Context, raw string, c *token.Claims) (string, error) {
		w.renewed.Add(1)
		return r.RenewAccess(ctx, raw, c)
	})
	srv, err := greeter.NewServer(e.Verifier, e.Clock, interceptors.WithRenewal(counted, 0))
	if err != nil {
		t.Fatal(err)
	}
	w.greeter = examplev1.NewGreeterServiceClient(authdtest.Serve(t, srv))
	return w
}

// whoAmI calls WhoAmI with tok and returns the renewal header ("" if none).
func (w *renewalWorld) whoAmI(t *testing.T, tok string) string {
	t.Helper()
	var header metadata.MD
	if _, err := w.greeter.WhoAmI(authdtest.Bearer(bg, tok), &examplev1.WhoAmIRequest{}, grpc.Header(&header)); err != nil {
		t.Fatalf("WhoAmI: %v", err)
	}
	return renewal(t, header)
}

func renewal(t *testing.T, header metadata.MD) string {
	t.Helper()
	vals := header.Get(wire.RenewalHeader)
	if len(vals) > 1 {
		t.Fatalf("%d renewal headers", len(vals))
	}
	if len(vals) == 0 {
		return ""
	}
	return vals[0]
}

func TestRenewal_PastHalfLife(t *testing.T) {
	for _, remote := range []bool{false, true} {
		t.Run(map[bool]string{false: "in-process", true: "remote"}[remote], func(t *testing.T) {
			w := newRenewalWorld(t, remote)
			e := w.authd
			login := e.Login(t, "alice", "pw")
			old, _ := e.Verifier.Verify(bg, login.AccessToken)

			e.Clock.Advance(7 * time.Minute)
			if got := w.whoAmI(t, login.AccessToken); got != "" {
				t.Fatal("renewed before half the token's life")
			}
			e.Clock.Advance(time.Minute) // 8 of 15 minutes used
			renewed := w.whoAmI(t, login.AccessToken)
			if renewed == "" {
				t.Fatal("no renewal past half life")
			}
			claims, err := e.Verifier.Verify(bg, renewed)
			if err != nil {
				t.Fatal(err)
			}
			now := e.Clock.Now()
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

func TestRenewal_OneRenewalPerTokenUnderConcurrency(t *testing.T) {
	w := newRenewalWorld(t, true)
	login := w.authd.Login(t, "alice", "pw")
	w.authd.Clock.Advance(10 * time.Minute)
	var wg sync.WaitGroup
	got := make([]string, 50)
	for i := range got {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var header metadata.MD
			if _, err := w.greeter.WhoAmI(authdtest.Bearer(bg, login.AccessToken), &examplev1.WhoAmIRequest{}, grpc.Header(&header)); err == nil {
				got[i] = renewal(t, header)
			}
		}()
	}
	wg.Wait()
	for i, tok := range got {
		if tok == "" || tok != got[0] {
			t.Fatalf("call %d got renewal %q, want the same one as call 0", i, tok)
		}
	}
	if n := w.renewed.Load(); n != 1 {
		t.Fatalf("%d renewals for one token, want 1", n)
	}
}

func TestRenewal_Refused(t *testing.T) {
	w := newRenewalWorld(t, true)
	e := w.authd
	login := e.Login(t, "alice", "pw")
	e.Clock.Advance(10 * time.Minute)

	t.Run("refresh token", func(t *testing.T) {
		var header metadata.MD
		if _, err := w.greeter.SessionInfo(authdtest.Bearer(bg, login.RefreshToken), &examplev1.SessionInfoRequest{}, grpc.Header(&header)); err != nil {
			t.Fatal(err)
		}
		if renewal(t, header) != "" {
			t.Fatal("a refresh token was renewed")
		}
	})
	t.Run("fresh-only method", func(t *testing.T) {
		var header metadata.MD
		if _, err := w.greeter.DeleteAccount(authdtest.Bearer(bg, login.AccessToken), &examplev1.DeleteAccountRequest{}, grpc.Header(&header)); err != nil {
			t.Fatal(err)
		}
		if renewal(t, header) != "" {
			t.Fatal("renewed on a FRESH_ACCESS method")
		}
	})
	t.Run("revoked session", func(t *testing.T) {
		other := e.Login(t, "alice", "pw")
		if _, err := e.Client.Logout(authdtest.Bearer(bg, other.AccessToken), &authv1.LogoutRequest{}); err != nil {
			t.Fatal(err)
		}
		e.Clock.Advance(10 * time.Minute)
		// This greeter does not check revocations, so the call passes; the
		// renewal must not.
		if got := w.whoAmI(t, other.AccessToken); got != "" {
			t.Fatal("a token of a revoked session was renewed")
		}
	})
	t.Run("session cap", func(t *testing.T) {
		s := e.Login(t, "alice", "pw")
		first, err := e.Verifier.Verify(bg, s.AccessToken)
		if err != nil {
			t.Fatal(err)
		}
		sessionCap := first.AuthenticatedAt().Add(2 * time.Hour)
		// A call a minute slides the session until its cap...
		tok := s.AccessToken
		for e.Clock.Now().Before(sessionCap.Add(-2 * time.Minute)) {
			e.Clock.Advance(time.Minute)
			if next := w.whoAmI(t, tok); next != "" {
				tok = next
			}
		}
		claims, err := e.Verifier.Verify(bg, tok)
		if err != nil {
			t.Fatal(err)
		}
		if !claims.Expiry().Equal(sessionCap) {
			t.Fatalf("sliding ended at %v, want the cap %v", claims.Expiry(), sessionCap)
		}
		// ...and not past it.
		e.Clock.Advance(time.Minute)
		if got := w.whoAmI(t, tok); got != "" {
			t.Fatal("renewed at the session cap")
		}
	})
}

func TestRenewal_StreamHeader(t *testing.T) {
	w := newRenewalWorld(t, false)
	login := w.authd.Login(t, "alice", "pw")
	w.authd.Clock.Advance(9 * time.Minute)
	stream, err := w.greeter.Ticks(authdtest.Bearer(bg, login.AccessToken), &examplev1.TicksRequest{Count: 1})
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
	renewed := renewal(t, header)
	if renewed == "" {
		t.Fatal("no renewal header on a stream past half life")
	}
	if _, err := w.authd.Verifier.Verify(bg, renewed); err != nil {
		t.Fatal(err)
	}
}
