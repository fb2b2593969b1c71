package session_test

import (
	"context"
	"errors"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/authd-dev/authd/authdtest/tokens"
	"github.com/authd-dev/authd/guard"
	"github.com/authd-dev/authd/session"
	"github.com/authd-dev/authd/store"
	"github.com/authd-dev/authd/store/sqlite"
	"github.com/authd-dev/authd/token"
)

// rig is an engine over a fresh SQLite database, signing with a test key
// on a fake clock, and one user.
type rig struct {
	iss    *tokens.Issuer
	db     *sqlite.DB
	engine *session.Engine
	user   store.User
}

func newRig(t *testing.T, cfg session.Config) *rig {
	t.Helper()
	ctx := context.Background()
	iss := tokens.New(t)
	db, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "authd.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	cfg.Signer, cfg.Clock = iss.Signer, iss.Clock
	engine, err := session.New(db, cfg)
	if err != nil {
		t.Fatal(err)
	}
	user, err := db.CreateUser(ctx, "alice", "$argon2id$unused", iss.Clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	return &rig{iss: iss, db: db, engine: engine, user: user}
}

func (r *rig) verify(t *testing.T, raw string) *token.Claims {
	t.Helper()
	c, err := r.iss.Verifier.Verify(context.Background(), raw)
	if err != nil {
		t.Fatalf("verify: %v", err)
	}
	return c
}

func (r *rig) open(t *testing.T) session.Tokens {
	t.Helper()
	pair, err := r.engine.Open(context.Background(), r.user)
	if err != nil {
		t.Fatal(err)
	}
	return pair
}

func TestOpen_MintsAFreshAccessAndARefreshTokenOfOneSession(t *testing.T) {
	r := newRig(t, session.Config{})
	pair := r.open(t)
	access, refresh := r.verify(t, pair.Access), r.verify(t, pair.Refresh)
	if access.Type != token.Access || !access.FreshAt(r.iss.Clock.Now()) || access.Subject != "alice" {
		t.Errorf("access token: type %q fresh %v subject %q", access.Type, access.FreshAt(r.iss.Clock.Now()), access.Subject)
	}
	if refresh.Type != token.Refresh || refresh.SessionID != access.SessionID || access.SessionID != pair.SessionID {
		t.Errorf("refresh type %q sid %q, access sid %q, pair sid %q", refresh.Type, refresh.SessionID, access.SessionID, pair.SessionID)
	}
	if pair.AccessExpiresIn != session.DefaultAccessTTL || pair.RefreshExpiresIn != session.DefaultRefreshTTL {
		t.Errorf("lifetimes %v / %v", pair.AccessExpiresIn, pair.RefreshExpiresIn)
	}
}

func TestOpen_RefusesAUserChangedSinceTheCheck(t *testing.T) {
	r := newRig(t, session.Config{})
	if err := r.db.SetRoles(context.Background(), "alice", []string{"admin"}, r.iss.Clock.Now()); err != nil {
		t.Fatal(err)
	}
	if _, err := r.engine.Open(context.Background(), r.user); !errors.Is(err, session.ErrUserChanged) {
		t.Fatalf("Open with a stale user: %v, want ErrUserChanged", err)
	}
}

func TestRefresh_RotatesAndMintsANonFreshAccessToken(t *testing.T) {
	r := newRig(t, session.Config{})
	pair := r.open(t)
	r.iss.Clock.Advance(time.Minute)
	next, err := r.engine.Refresh(context.Background(), r.verify(t, pair.Refresh))
	if err != nil {
		t.Fatal(err)
	}
	if next.Refresh == "" || next.Refresh == pair.Refresh {
		t.Fatal("Refresh did not rotate the refresh token")
	}
	if a := r.verify(t, next.Access); a.FreshAt(r.iss.Clock.Now()) || a.SessionID != pair.SessionID {
		t.Errorf("refreshed access token: fresh %v sid %q, want non-fresh in %q", a.FreshAt(r.iss.Clock.Now()), a.SessionID, pair.SessionID)
	}
	// The rotated token works; the spent one is reuse once the grace is over.
	if _, err := r.engine.Refresh(context.Background(), r.verify(t, next.Refresh)); err != nil {
		t.Fatalf("refresh with the rotated token: %v", err)
	}
}

func TestRefresh_ARetryWithinTheGraceGetsTheSamePair(t *testing.T) {
	r := newRig(t, session.Config{ReuseGrace: 10 * time.Second})
	spent := r.verify(t, r.open(t).Refresh)
	first, err := r.engine.Refresh(context.Background(), spent)
	if err != nil {
		t.Fatal(err)
	}
	r.iss.Clock.Advance(5 * time.Second)
	retry, err := r.engine.Refresh(context.Background(), spent)
	if err != nil {
		t.Fatalf("retry within the grace: %v", err)
	}
	if retry.Refresh != first.Refresh && r.verify(t, retry.Refresh).ID != r.verify(t, first.Refresh).ID {
		t.Error("a retry within the grace forked the session: a second refresh token")
	}
}

func TestRefresh_ReuseRevokesTheSession(t *testing.T) {
	r := newRig(t, session.Config{ReuseGrace: 10 * time.Second})
	pair := r.open(t)
	spent := r.verify(t, pair.Refresh)
	next, err := r.engine.Refresh(context.Background(), spent)
	if err != nil {
		t.Fatal(err)
	}
	r.iss.Clock.Advance(11 * time.Second)
	_, err = r.engine.Refresh(context.Background(), spent)
	if !errors.Is(err, session.ErrReused) || !errors.Is(err, guard.ErrRevoked) {
		t.Fatalf("spent token past the grace: %v, want ErrReused (a guard.ErrRevoked)", err)
	}
	if _, err := r.engine.Refresh(context.Background(), r.verify(t, next.Refresh)); !errors.Is(err, guard.ErrRevoked) {
		t.Errorf("the successor after reuse: %v, want revoked", err)
	}
	if live, _, err := r.engine.Live(context.Background(), pair.SessionID); err != nil || live {
		t.Errorf("Live after reuse: %v, %v; want false", live, err)
	}
}

func TestRefresh_ZeroGraceIsStrict(t *testing.T) {
	r := newRig(t, session.Config{})
	spent := r.verify(t, r.open(t).Refresh)
	if _, err := r.engine.Refresh(context.Background(), spent); err != nil {
		t.Fatal(err)
	}
	if _, err := r.engine.Refresh(context.Background(), spent); !errors.Is(err, session.ErrReused) {
		t.Fatalf("immediate retry with grace 0: %v, want ErrReused", err)
	}
}

// Concurrent refreshes with one token never fork the session: every
// answer carries the same successor.
func TestRefresh_ConcurrentRefreshesDoNotFork(t *testing.T) {
	r := newRig(t, session.Config{ReuseGrace: 10 * time.Second})
	spent := r.verify(t, r.open(t).Refresh)
	const n = 8
	jtis := make([]string, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			pair, err := r.engine.Refresh(context.Background(), spent)
			if err != nil {
				t.Errorf("refresh %d: %v", i, err)
				return
			}
			c, err := r.iss.Verifier.Verify(context.Background(), pair.Refresh)
			if err != nil {
				t.Errorf("refresh %d: %v", i, err)
				return
			}
			jtis[i] = c.ID
		}()
	}
	wg.Wait()
	for i := range jtis {
		if jtis[i] != jtis[0] {
			t.Fatalf("refresh %d got successor %q, refresh 0 got %q: the session forked", i, jtis[i], jtis[0])
		}
	}
}

func TestRefresh_KeepRefreshTokenMintsOnlyAnAccessToken(t *testing.T) {
	r := newRig(t, session.Config{KeepRefreshToken: true})
	refresh := r.verify(t, r.open(t).Refresh)
	for range 2 {
		pair, err := r.engine.Refresh(context.Background(), refresh)
		if err != nil {
			t.Fatal(err)
		}
		if pair.Refresh != "" || pair.Access == "" {
			t.Fatalf("without rotation: refresh %q, access %q", pair.Refresh, pair.Access)
		}
	}
}

func TestRefresh_RefusesATokenWithoutSession(t *testing.T) {
	r := newRig(t, session.Config{})
	c := r.iss.Claims(token.Refresh, "alice", "")
	if _, err := r.engine.Refresh(context.Background(), &c); !errors.Is(err, session.ErrNoSession) || !errors.Is(err, token.ErrInvalid) {
		t.Fatalf("refresh without sid: %v, want ErrNoSession", err)
	}
}

// Renewal slides the session but never past its cap.
func TestRenew_SlidesWithinTheCap(t *testing.T) {
	r := newRig(t, session.Config{SessionMax: 20 * time.Minute})
	pair := r.open(t)
	access := r.verify(t, pair.Access)
	r.iss.Clock.Advance(10 * time.Minute)
	renewed, ttl, err := r.engine.Renew(context.Background(), access)
	if err != nil {
		t.Fatal(err)
	}
	if ttl != 10*time.Minute {
		t.Errorf("renewed for %v, want the 10 minutes left of the cap", ttl)
	}
	if c := r.verify(t, renewed); c.FreshAt(r.iss.Clock.Now()) || c.SessionID != pair.SessionID {
		t.Errorf("renewed token fresh %v sid %q", c.FreshAt(r.iss.Clock.Now()), c.SessionID)
	}
	if _, _, err := r.engine.Renew(context.Background(), r.verify(t, renewed)); !errors.Is(err, session.ErrSessionCap) {
		t.Fatalf("renewing a token that ends with the session: %v, want ErrSessionCap", err)
	}
	if _, _, err := r.engine.Renew(context.Background(), r.verify(t, pair.Refresh)); !errors.Is(err, guard.ErrAccessRequired) {
		t.Errorf("renewing with a refresh token: %v, want ErrAccessRequired", err)
	}
}

func TestRevoke_EndsTheSessionForRefreshRenewAndRevoked(t *testing.T) {
	var announced []string
	r := newRig(t, session.Config{OnRevoke: func(_ context.Context, sids ...string) { announced = append(announced, sids...) }})
	pair := r.open(t)
	access, refresh := r.verify(t, pair.Access), r.verify(t, pair.Refresh)
	if revoked, err := r.engine.Revoked(context.Background(), access); err != nil || revoked {
		t.Fatalf("Revoked before Revoke: %v, %v", revoked, err)
	}
	if err := r.engine.Revoke(context.Background(), pair.SessionID); err != nil {
		t.Fatal(err)
	}
	if revoked, err := r.engine.Revoked(context.Background(), access); err != nil || !revoked {
		t.Errorf("Revoked after Revoke: %v, %v; want true at once (no cache wait)", revoked, err)
	}
	if _, err := r.engine.Refresh(context.Background(), refresh); !errors.Is(err, guard.ErrRevoked) {
		t.Errorf("Refresh after Revoke: %v", err)
	}
	if _, _, err := r.engine.Renew(context.Background(), access); !errors.Is(err, guard.ErrRevoked) {
		t.Errorf("Renew after Revoke: %v", err)
	}
	if len(announced) != 1 || announced[0] != pair.SessionID {
		t.Errorf("OnRevoke heard %v, want [%s]", announced, pair.SessionID)
	}
}

// A revocation made elsewhere (another instance, the CLI) reaches Revoked
// within CacheTTL, and at once after Forget.
func TestRevoked_SeesOtherWritersWithinCacheTTL(t *testing.T) {
	r := newRig(t, session.Config{CacheTTL: 5 * time.Second})
	pair := r.open(t)
	access := r.verify(t, pair.Access)
	if revoked, _ := r.engine.Revoked(context.Background(), access); revoked {
		t.Fatal("revoked before anything happened")
	}
	other, err := session.New(r.db, session.Config{Clock: r.iss.Clock})
	if err != nil {
		t.Fatal(err)
	}
	if err := other.Revoke(context.Background(), pair.SessionID); err != nil {
		t.Fatal(err)
	}
	r.iss.Clock.Advance(6 * time.Second)
	if revoked, err := r.engine.Revoked(context.Background(), access); err != nil || !revoked {
		t.Errorf("after CacheTTL: %v, %v; want revoked", revoked, err)
	}
	// Forget drops a cached answer at once (the revocation feed).
	pair2 := r.open(t)
	access2 := r.verify(t, pair2.Access)
	if revoked, _ := r.engine.Revoked(context.Background(), access2); revoked {
		t.Fatal("new session revoked")
	}
	if err := other.Revoke(context.Background(), pair2.SessionID); err != nil {
		t.Fatal(err)
	}
	r.engine.Forget(pair2.SessionID)
	if revoked, err := r.engine.Revoked(context.Background(), access2); err != nil || !revoked {
		t.Errorf("after Forget: %v, %v; want revoked", revoked, err)
	}
}

func TestRevokeUser_EndsEverySessionButTheOneKept(t *testing.T) {
	r := newRig(t, session.Config{})
	keep, drop1, drop2 := r.open(t), r.open(t), r.open(t)
	n, err := r.engine.RevokeUser(context.Background(), r.user.ID, keep.SessionID)
	if err != nil || n != 2 {
		t.Fatalf("RevokeUser: %d, %v; want 2", n, err)
	}
	for _, p := range []session.Tokens{drop1, drop2} {
		if live, _, _ := r.engine.Live(context.Background(), p.SessionID); live {
			t.Errorf("session %s still live", p.SessionID)
		}
	}
	if live, _, _ := r.engine.Live(context.Background(), keep.SessionID); !live {
		t.Error("the kept session was revoked")
	}
}

func TestIssueClientToken_CannotBeRefreshedOrRenewed(t *testing.T) {
	r := newRig(t, session.Config{})
	raw, ttl, err := r.engine.IssueClientToken(context.Background(), r.user, []string{"orders:read", "orders:write"})
	if err != nil {
		t.Fatal(err)
	}
	c := r.verify(t, raw)
	if c.Scope != "orders:read orders:write" || c.AuthTime != nil || ttl != session.DefaultAccessTTL {
		t.Errorf("client token: scope %q auth_time %v ttl %v", c.Scope, c.AuthTime, ttl)
	}
	if _, _, err := r.engine.Renew(context.Background(), c); !errors.Is(err, session.ErrSessionCap) {
		t.Errorf("renewing a client token: %v, want ErrSessionCap", err)
	}
}

func TestPrune_DeletesOnlySessionsPastTheirCap(t *testing.T) {
	r := newRig(t, session.Config{SessionMax: time.Hour})
	old := r.open(t)
	r.iss.Clock.Advance(30 * time.Minute)
	young := r.open(t)
	r.iss.Clock.Advance(30*time.Minute + token.MaxLeeway + time.Second)
	n, err := r.engine.Prune(context.Background())
	if err != nil || n != 1 {
		t.Fatalf("Prune: %d, %v; want 1", n, err)
	}
	if _, err := r.db.Session(context.Background(), old.SessionID); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("the capped session: %v, want gone", err)
	}
	if _, err := r.db.Session(context.Background(), young.SessionID); err != nil {
		t.Errorf("the young session: %v", err)
	}
}

func TestConfig_Validate(t *testing.T) {
	for name, cfg := range map[string]session.Config{
		"negative access ttl":  {AccessTTL: -time.Second},
		"grace over the bound": {ReuseGrace: session.MaxReuseGrace + time.Second},
	} {
		if err := cfg.Validate(); err == nil {
			t.Errorf("%s: Validate accepted it", name)
		}
	}
	if err := (session.Config{}).Validate(); err != nil {
		t.Errorf("the zero Config: %v", err)
	}
}
