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

	"github.com/authd-dev/authd/authdtest/tokens"
	"github.com/authd-dev/authd/clock"
	"github.com/authd-dev/authd/examples/greeter"
	examplev1 "github.com/authd-dev/authd/gen/example/v1"
	"github.com/authd-dev/authd/guard"
	"github.com/authd-dev/authd/internal/authdenv"
	"github.com/authd-dev/authd/jwks"
	"github.com/authd-dev/authd/keys"
	"github.com/authd-dev/authd/token"
	"github.com/authd-dev/authd/wire"
)

// sourceWorld is authd plus the example greeter verifying with a Source
// over authd's AuthService.GetJWKS, counting fetches.
type sourceWorld struct {
	authd   *authdenv.Env
	source  *jwks.Source
	fetches atomic.Int64
	down    atomic.Bool // fetches fail, as when authd is unreachable
	greeter examplev1.GreeterServiceClient
}

func newSourceWorld(t *testing.T) *sourceWorld {
	t.Helper()
	w := &sourceWorld{authd: authdenv.New(t)}
	w.authd.AddUser(t, "alice", "pw")
	fetch := jwks.GRPC(w.authd.Conn)
	w.source = jwks.New(jwks.FetcherFunc(func(ctx context.Context) ([]token.JWK, error) {
		w.fetches.Add(1)
		if w.down.Load() {
			return nil, errors.New("connection refused")
		}
		return fetch.FetchKeys(ctx)
	}), jwks.Config{Clock: w.authd.Clock})
	verifier, err := token.NewVerifier(w.source, token.WithClock(w.authd.Clock))
	if err != nil {
		t.Fatal(err)
	}
	srv, err := greeter.NewServer(guard.New(verifier, guard.Config{PublicHealthAndReflection: true, Clock: w.authd.Clock}), w.authd.Clock)
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
func publicHalf(key keys.Key, created time.Time) keys.Key {
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
	newer, err := keys.NewKey(e.Clock.Now().Add(time.Minute))
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
	e.Clock.Advance(jwks.DefaultCooldown) // a forged kid may now cause one fetch
	before := w.fetches.Load()
	for range 200 {
		forger := tokens.New(t, tokens.WithClock(e.Clock))
		err := w.whoAmI(forger.FreshAccess(t, "alice", "s1"))
		tokens.WantRefusal(t, err, codes.Unauthenticated, wire.ReasonTokenInvalid)
	}
	if n := w.fetches.Load() - before; n != 1 {
		t.Fatalf("200 forged kids caused %d JWKS fetches, want 1 per cooldown", n)
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
	e := authdenv.New(t)
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
	v, err := token.NewVerifier(jwks.New(jwks.HTTP(web.URL+"/.well-known/jwks.json", web.Client()), jwks.Config{}), token.WithClock(e.Clock))
	if err != nil {
		t.Fatal(err)
	}
	claims, err := v.Verify(ctx, e.Login(t, "alice", "pw").AccessToken)
	if err != nil || claims.Subject != "alice" {
		t.Fatalf("Verify = %v, %v", claims, err)
	}
	bad, err := token.NewVerifier(jwks.New(jwks.HTTP(web.URL+"/missing", web.Client()), jwks.Config{}), token.WithClock(e.Clock))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := bad.Verify(ctx, e.Login(t, "alice", "pw").AccessToken); !errors.Is(err, token.ErrKeysUnavailable) {
		t.Fatalf("JWKS URL answering 404: %v, want ErrKeysUnavailable", err)
	}
}

// Fetched keys are used for Config.CacheTTL, then refetched on the next
// lookup: not before, even for a kid the cache knows.
func TestSource_RefetchesAfterCacheTTL(t *testing.T) {
	const ttl = 2 * time.Minute
	clk := clock.NewFake(tokens.Start)
	key, err := keys.NewKey(clk.Now())
	if err != nil {
		t.Fatal(err)
	}
	var fetches atomic.Int64
	src := jwks.New(jwks.FetcherFunc(func(context.Context) ([]token.JWK, error) {
		fetches.Add(1)
		return []token.JWK{token.NewJWK(key.Public)}, nil
	}), jwks.Config{CacheTTL: ttl, Clock: clk})
	steps := []struct {
		advance time.Duration
		want    int64
	}{
		{0, 1},                 // first lookup fetches
		{ttl - time.Second, 1}, // still within the TTL
		{time.Second, 2},       // the TTL has passed
		{ttl - time.Second, 2}, // within the TTL of the refetch
		{time.Second, 3},       // past it again
	}
	for i, s := range steps {
		clk.Advance(s.advance)
		if _, err := src.VerificationKey(context.Background(), key.ID); err != nil {
			t.Fatalf("step %d: VerificationKey: %v", i, err)
		}
		if n := fetches.Load(); n != s.want {
			t.Fatalf("step %d (at +%v): %d fetches, want %d", i, clk.Now().Sub(tokens.Start), n, s.want)
		}
	}
}
