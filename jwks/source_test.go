package jwks_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc/codes"

	"github.com/authd-dev/authd/authdtest"
	"github.com/authd-dev/authd/authdtest/tokens"
	"github.com/authd-dev/authd/examples/greeter"
	examplev1 "github.com/authd-dev/authd/gen/example/v1"
	"github.com/authd-dev/authd/jwks"
	"github.com/authd-dev/authd/token"
	"github.com/authd-dev/authd/wire"
)

// sourceWorld is authd plus the example greeter verifying with a Source
// over authd's AuthService.GetJWKS, counting fetches.
type sourceWorld struct {
	authd   *authdtest.Env
	source  *jwks.Source
	fetches atomic.Int64
	down    atomic.Bool // fetches fail, as when authd is unreachable
	greeter examplev1.GreeterServiceClient
}

func newSourceWorld(t *testing.T) *sourceWorld {
	t.Helper()
	w := &sourceWorld{authd: authdtest.New(t)}
	w.authd.AddUser(t, "alice", "pw")
	fetch := jwks.GRPC(w.authd.Conn)
	w.source = jwks.New(jwks.FetcherFunc(func(ctx context.Context) ([]token.JWK, error) {
		w.fetches.Add(1)
		if w.down.Load() {
			return nil, errors.New("connection refused")
		}
		return fetch.FetchKeys(ctx)
	}), jwks.WithClock(w.authd.Clock))
	verifier, err := token.NewVerifier(w.source, token.WithClock(w.authd.Clock))
	if err != nil {
		t.Fatal(err)
	}
	srv, err := greeter.NewServer(verifier, w.authd.Clock)
	if err != nil {
		t.Fatal(err)
	}
	w.greeter = examplev1.NewGreeterServiceClient(tokens.Serve(t, srv))
	return w
}

func (w *sourceWorld) whoAmI(tok string) error {
	_, err := w.greeter.WhoAmI(tokens.Bearer(context.Background(), tok), &examplev1.WhoAmIRequest{})
	return err
}

// publicHalf is key as authd publishes a key it no longer signs with.
func publicHalf(key token.Key, created time.Time) token.Key {
	key.Private, key.Created = nil, created
	return key
}

// A key authd stops publishing stops verifying once consumers refetch: the
// tokens it signed are refused as invalid, whatever the method demands.
func TestSource_RetiredKeyStopsVerifying(t *testing.T) {
	w := newSourceWorld(t)
	e := w.authd
	current := e.Keys.Keys()[0]
	old := tokens.New(t, tokens.WithClock(e.Clock)) // a key authd signed with before
	retired := publicHalf(old.Keys.Keys()[0], tokens.Start.Add(-time.Hour))
	if err := e.Keys.Replace(current, retired); err != nil {
		t.Fatal(err)
	}
	if err := w.source.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	// Checked with another token of the key: the interceptor's
	// verified-token cache would keep accepting this very one until its exp.
	if err := w.whoAmI(old.FreshAccess(t, "alice", "s1")); err != nil {
		t.Fatalf("token of a published key: %v", err)
	}
	oldToken := old.FreshAccess(t, "alice", "s2")

	if err := e.Keys.Replace(current); err != nil {
		t.Fatal(err)
	}
	e.Clock.Advance(10 * time.Minute) // the consumer's JWKS cache goes stale
	err := w.whoAmI(oldToken)
	tokens.WantRefusal(t, err, codes.Unauthenticated, wire.ReasonTokenInvalid)
	if err := w.whoAmI(e.Login(t, "alice", "pw").AccessToken); err != nil {
		t.Fatalf("token of the current key: %v", err)
	}
}

func TestSource_PicksUpRotation(t *testing.T) {
	w := newSourceWorld(t)
	e := w.authd
	before := e.Login(t, "alice", "pw").AccessToken
	if err := w.whoAmI(before); err != nil {
		t.Fatal(err)
	}
	newer, err := token.NewKey(e.Clock.Now().Add(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Keys.Replace(append(e.Keys.Keys(), newer)...); err != nil {
		t.Fatal(err)
	}
	e.Clock.Advance(31 * time.Second) // past the cooldown since the last fetch
	login := e.Login(t, "alice", "pw")
	if kid := tokens.KeyID(t, login.AccessToken); kid != newer.ID {
		t.Fatalf("authd signs with %s, want the rotated key %s", kid, newer.ID)
	}
	if err := w.whoAmI(login.AccessToken); err != nil {
		t.Fatalf("token signed by the new key: %v", err)
	}
	if err := w.whoAmI(before); err != nil {
		t.Fatalf("token signed before rotation: %v", err)
	}
}

func TestSource_UnknownKidStormFetchesOncePerCooldown(t *testing.T) {
	w := newSourceWorld(t)
	e := w.authd
	if err := w.whoAmI(e.Login(t, "alice", "pw").AccessToken); err != nil {
		t.Fatal(err)
	}
	e.Clock.Advance(31 * time.Second) // a forged kid may now cause one fetch
	before := w.fetches.Load()
	for range 200 {
		forger := tokens.New(t, tokens.WithClock(e.Clock))
		err := w.whoAmI(forger.FreshAccess(t, "alice", "s1"))
		tokens.WantRefusal(t, err, codes.Unauthenticated, wire.ReasonTokenInvalid)
	}
	if n := w.fetches.Load() - before; n != 1 {
		t.Fatalf("200 forged kids caused %d JWKS fetches, want 1 per 30s cooldown", n)
	}
}

func TestSource_WarmCacheSurvivesAuthdOutage(t *testing.T) {
	w := newSourceWorld(t)
	e := w.authd

	w.down.Store(true)
	access := e.Login(t, "alice", "pw").AccessToken
	err := w.whoAmI(access)
	tokens.WantRefusal(t, err, codes.Unavailable, "")

	w.down.Store(false)
	e.Clock.Advance(31 * time.Second)
	if err := w.whoAmI(access); err != nil {
		t.Fatal(err)
	}
	w.down.Store(true)
	e.Clock.Advance(11 * time.Minute) // cache stale, refetch fails: keep the keys
	fetches := w.fetches.Load()
	access = e.Login(t, "alice", "pw").AccessToken
	if err := w.whoAmI(access); err != nil {
		t.Fatalf("authd down with a warm cache: %v", err)
	}
	if w.fetches.Load() == fetches {
		t.Fatal("a stale cache was used without trying to refetch")
	}
}

func TestSource_OverHTTP(t *testing.T) {
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
	ctx := context.Background()
	v, err := token.NewVerifier(jwks.New(jwks.HTTP(web.URL+"/.well-known/jwks.json", web.Client())), token.WithClock(e.Clock))
	if err != nil {
		t.Fatal(err)
	}
	claims, err := v.Verify(ctx, e.Login(t, "alice", "pw").AccessToken)
	if err != nil || claims.Subject != "alice" {
		t.Fatalf("Verify = %v, %v", claims, err)
	}
	bad, err := token.NewVerifier(jwks.New(jwks.HTTP(web.URL+"/missing", web.Client())), token.WithClock(e.Clock))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := bad.Verify(ctx, e.Login(t, "alice", "pw").AccessToken); !errors.Is(err, token.ErrKeysUnavailable) {
		t.Fatalf("JWKS URL answering 404: %v, want ErrKeysUnavailable", err)
	}
}
