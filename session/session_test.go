package session_test

import (
	"context"
	"errors"
	"math/rand/v2"
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
	"github.com/authd-dev/authd/wire"
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
	pair, err := r.engine.Open(context.Background(), r.user, session.Proof{})
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
	if _, err := r.engine.Open(context.Background(), r.user, session.Proof{}); !errors.Is(err, session.ErrUserChanged) {
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

// A spent refresh token whose successor has never been used gets that
// same successor pair, for as long as the successor stays unused: not only
// within the grace (a response lost while an instance was down for
// longer), and with grace 0 too.
func TestRefresh_ASpentTokenGetsTheSameSuccessorWhileItIsUnused(t *testing.T) {
	for _, grace := range []time.Duration{0, 10 * time.Second} {
		r := newRig(t, session.Config{ReuseGrace: grace})
		spent := r.verify(t, r.open(t).Refresh)
		first, err := r.engine.Refresh(context.Background(), spent)
		if err != nil {
			t.Fatal(err)
		}
		for _, wait := range []time.Duration{0, 15 * time.Second, 20 * time.Hour} {
			r.iss.Clock.Advance(wait)
			retry, err := r.engine.Refresh(context.Background(), spent)
			if err != nil {
				t.Fatalf("grace %s: the spent token %s later: %v", grace, wait, err)
			}
			if retry.Refresh != first.Refresh || retry.Access != first.Access {
				t.Fatalf("grace %s: the spent token %s later got another pair: the session forked", grace, wait)
			}
		}
		// The successor still works, once: it was never used.
		if _, err := r.engine.Refresh(context.Background(), r.verify(t, first.Refresh)); err != nil {
			t.Fatalf("grace %s: the successor: %v", grace, err)
		}
	}
}

// Once the successor has been used, the spent token is a second branch:
// presented past the grace (at once with grace 0) it revokes the session.
// Within the grace it gets nothing and the session goes on.
func TestRefresh_ReuseRevokesTheSession(t *testing.T) {
	for _, grace := range []time.Duration{0, 10 * time.Second} {
		r := newRig(t, session.Config{ReuseGrace: grace})
		pair := r.open(t)
		spent := r.verify(t, pair.Refresh)
		next, err := r.engine.Refresh(context.Background(), spent)
		if err != nil {
			t.Fatal(err)
		}
		last, err := r.engine.Refresh(context.Background(), r.verify(t, next.Refresh)) // the successor is used
		if err != nil {
			t.Fatal(err)
		}
		if grace > 0 {
			r.iss.Clock.Advance(grace)
			_, err = r.engine.Refresh(context.Background(), spent)
			if !errors.Is(err, session.ErrSuperseded) || wire.Reason(wire.StatusError(err)) != wire.ReasonRefreshSuperseded {
				t.Fatalf("within the grace of its successor's use: %v, want ErrSuperseded", err)
			}
			if live, _, err := r.engine.Live(context.Background(), pair.SessionID); err != nil || !live {
				t.Fatalf("Live within the grace: %v, %v; want true", live, err)
			}
			r.iss.Clock.Advance(time.Second)
		}
		_, err = r.engine.Refresh(context.Background(), spent)
		if !errors.Is(err, session.ErrReused) || !errors.Is(err, guard.ErrRevoked) {
			t.Fatalf("grace %s: spent token after its successor was used: %v, want ErrReused (a guard.ErrRevoked)", grace, err)
		}
		if _, err := r.engine.Refresh(context.Background(), r.verify(t, last.Refresh)); !errors.Is(err, guard.ErrRevoked) {
			t.Errorf("grace %s: the newest token after reuse: %v, want revoked", grace, err)
		}
		if live, _, err := r.engine.Live(context.Background(), pair.SessionID); err != nil || live {
			t.Errorf("grace %s: Live after reuse: %v, %v; want false", grace, live, err)
		}
	}
}

// An ancestor older than the spent token before the current pair's is
// reuse whatever the grace.
func TestRefresh_OlderAncestorIsReuse(t *testing.T) {
	r := newRig(t, session.Config{ReuseGrace: session.MaxReuseGrace})
	tok := r.verify(t, r.open(t).Refresh)
	oldest := tok
	for range 3 {
		next, err := r.engine.Refresh(context.Background(), tok)
		if err != nil {
			t.Fatal(err)
		}
		tok = r.verify(t, next.Refresh)
	}
	if _, err := r.engine.Refresh(context.Background(), oldest); !errors.Is(err, session.ErrReused) {
		t.Fatalf("a token three rotations old: %v, want ErrReused", err)
	}
}

// A thief and the victim both hold refresh token N. Whoever uses it first
// gets N+1; the other's use of N afterwards gets that same N+1 — the
// session never forks — and only until N+1 is used: after that, N revokes
// the session, and with it every token either of them holds.
func TestRefresh_AStolenTokenCannotForkTheSession(t *testing.T) {
	r := newRig(t, session.Config{})
	n := r.verify(t, r.open(t).Refresh)
	first, err := r.engine.Refresh(context.Background(), n) // thief or victim: the first to use N
	if err != nil {
		t.Fatal(err)
	}
	r.iss.Clock.Advance(time.Hour)
	second, err := r.engine.Refresh(context.Background(), n) // the other, later
	if err != nil {
		t.Fatal(err)
	}
	if second.Refresh != first.Refresh {
		t.Fatal("the second holder of N got another successor: the session forked")
	}
	// One of them uses N+1; the other, still holding N, is now a second
	// branch.
	n2, err := r.engine.Refresh(context.Background(), r.verify(t, first.Refresh))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.engine.Refresh(context.Background(), n); !errors.Is(err, session.ErrReused) {
		t.Fatalf("N after N+1 was used: %v, want ErrReused", err)
	}
	for _, tok := range []string{first.Refresh, n2.Refresh} {
		if _, err := r.engine.Refresh(context.Background(), r.verify(t, tok)); !errors.Is(err, guard.ErrRevoked) {
			t.Fatalf("a token of the revoked session: %v", err)
		}
	}
	if revoked, err := r.engine.Revoked(context.Background(), r.verify(t, n2.Access)); err != nil || !revoked {
		t.Fatalf("the newest access token after reuse: revoked %v, %v", revoked, err)
	}
}

// Whatever order any number of holders present whatever refresh tokens
// they have ever held, the session never forks: no token ever gets two
// different successors. Holders keep every token they got, as a thief
// would.
func TestRefresh_NoInterleavingForks(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for trial := range 100 {
		r := newRig(t, session.Config{ReuseGrace: time.Duration(trial%3) * 5 * time.Second})
		login := r.open(t)
		held := [3][]string{{login.Refresh}, {login.Refresh}, {login.Refresh}}
		successor := map[string]string{} // spent refresh jti -> its successor's
		for step := range 12 {
			who := rng.IntN(len(held))
			c := r.verify(t, held[who][rng.IntN(len(held[who]))])
			r.iss.Clock.Advance(time.Duration(rng.IntN(8)) * time.Second)
			pair, err := r.engine.Refresh(context.Background(), c)
			switch {
			case errors.Is(err, guard.ErrRevoked) || errors.Is(err, session.ErrSuperseded):
				continue
			case err != nil:
				t.Fatal(err)
			}
			next := r.verify(t, pair.Refresh).ID
			if prev, ok := successor[c.ID]; ok && prev != next {
				t.Fatalf("trial %d step %d: refresh token %s got successors %s and %s: the session forked", trial, step, c.ID, prev, next)
			}
			successor[c.ID] = next
			held[who] = append(held[who], pair.Refresh)
		}
	}
}

// pausingRotations holds the first Rotate until released: the refresh
// making it has read its token as current, as a slow twin has.
type pausingRotations struct {
	session.Store
	reached, release chan struct{}
	once             sync.Once
}

func (p *pausingRotations) Rotate(ctx context.Context, id, spent string, next store.Rotation, now time.Time) error {
	first := false
	p.once.Do(func() { first = true })
	if first {
		close(p.reached)
		<-p.release
	}
	return p.Store.Rotate(ctx, id, spent, next, now)
}

// Two refreshes of one token at once, then at once a refresh with the
// first answer: the slower twin lost its compare-and-swap to a token that
// has since been spent again. It answers with the same successor its twin
// got, never taking its own token for an older ancestor (reuse).
func TestRefresh_ASlowTwinGetsItsTwinsAnswer(t *testing.T) {
	for _, grace := range []time.Duration{0, session.DefaultReuseGrace} {
		r := newRig(t, session.Config{})
		p := &pausingRotations{Store: r.db, reached: make(chan struct{}), release: make(chan struct{})}
		engine, err := session.New(p, session.Config{Signer: r.iss.Signer, Clock: r.iss.Clock, ReuseGrace: grace})
		if err != nil {
			t.Fatal(err)
		}
		login := r.open(t)
		n := r.verify(t, login.Refresh)
		slow := make(chan error, 1)
		var slowPair session.Tokens
		go func() {
			var err error
			slowPair, err = engine.Refresh(context.Background(), n)
			slow <- err
		}()
		<-p.reached // the slow twin read N as current
		fast, err := engine.Refresh(context.Background(), n)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := engine.Refresh(context.Background(), r.verify(t, fast.Refresh)); err != nil {
			t.Fatal(err)
		}
		close(p.release)
		if err := <-slow; err != nil {
			t.Fatalf("grace %s: the slow twin: %v, want its twin's pair", grace, err)
		}
		if slowPair.Refresh != fast.Refresh || slowPair.Access != fast.Access {
			t.Fatalf("grace %s: the slow twin got another pair than its twin", grace)
		}
		if live, _, err := engine.Live(context.Background(), login.SessionID); err != nil || !live {
			t.Fatalf("grace %s: session after the twins: live %v, %v", grace, live, err)
		}
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
	var announced int
	r := newRig(t, session.Config{OnRevoke: func(context.Context, ...string) { announced++ }})
	keep, drop1, drop2 := r.open(t), r.open(t), r.open(t)
	if n, err := r.engine.RevokeUser(context.Background(), r.user.ID, ""); err != nil || n != 0 || announced != 0 {
		t.Fatalf("RevokeUser with no change of the user: %d, %v, %d announced; want none", n, err, announced)
	}
	if err := r.db.SetPassword(context.Background(), "alice", "$argon2id$new", r.iss.Clock.Now()); err != nil {
		t.Fatal(err)
	}
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
	if announced != 1 {
		t.Errorf("OnRevoke called %d times, want once", announced)
	}
}

// An account holds at most MaxSessions live sessions: a login past it
// revokes the oldest, announces it, and the newest stay live.
func TestOpen_PastTheBoundRevokesTheOldestAndAnnouncesIt(t *testing.T) {
	var announced []string
	r := newRig(t, session.Config{MaxSessions: 3, OnRevoke: func(_ context.Context, sids ...string) { announced = append(announced, sids...) }})
	var opened []session.Tokens
	for range 5 {
		opened = append(opened, r.open(t))
		r.iss.Clock.Advance(time.Second)
	}
	if len(announced) != 2 || announced[0] != opened[0].SessionID || announced[1] != opened[1].SessionID {
		t.Fatalf("announced %v, want the two oldest [%s %s]", announced, opened[0].SessionID, opened[1].SessionID)
	}
	for i, p := range opened {
		live, _, err := r.engine.Live(context.Background(), p.SessionID)
		if err != nil || live != (i >= 2) {
			t.Errorf("session %d: live %v, %v; want %v", i, live, err, i >= 2)
		}
	}
	if revoked, err := r.engine.Revoked(context.Background(), r.verify(t, opened[0].Access)); err != nil || !revoked {
		t.Errorf("the evicted session's access token: revoked %v, %v", revoked, err)
	}
	if err := (session.Config{MaxSessions: -1}).Validate(); err == nil {
		t.Error("a negative bound validated")
	}
}

func TestIssueClientToken_CannotBeRefreshedOrRenewed(t *testing.T) {
	r := newRig(t, session.Config{})
	raw, ttl, err := r.engine.IssueClientToken(context.Background(), r.user, []string{"orders:read", "orders:write"}, nil)
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

// A bound session binds every token it mints — access and refresh, at the
// login, each refresh, renewal and step-up — and a service-account token
// its one token.
func TestOpen_BoundSessionBindsEveryToken(t *testing.T) {
	r := newRig(t, session.Config{})
	const jkt = "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"
	pair, err := r.engine.Open(context.Background(), r.user, session.Proof{Bind: &token.Confirmation{JWKThumbprint: jkt}})
	if err != nil {
		t.Fatal(err)
	}
	bound := func(what, raw string) *token.Claims {
		t.Helper()
		c := r.verify(t, raw)
		if c.Confirmation.GetJWKThumbprint() != jkt {
			t.Fatalf("%s: cnf %+v, want jkt %s", what, c.Confirmation, jkt)
		}
		return c
	}
	bound("access", pair.Access)
	r.iss.Clock.Advance(10 * time.Minute)
	next, err := r.engine.Refresh(context.Background(), bound("refresh", pair.Refresh))
	if err != nil {
		t.Fatal(err)
	}
	bound("refreshed access", next.Access)
	bound("refreshed refresh", next.Refresh)
	renewed, _, err := r.engine.Renew(context.Background(), r.verify(t, next.Access))
	if err != nil {
		t.Fatal(err)
	}
	bound("renewed", renewed)
	if unbound := r.verify(t, r.open(t).Access); unbound.Confirmation != nil {
		t.Fatalf("a bearer session's token has cnf %+v", unbound.Confirmation)
	}
	raw, _, err := r.engine.IssueClientToken(context.Background(), r.user, nil, &token.Confirmation{CertificateThumbprint: "bwcK0esc3ACC3DB2Y5_lESsXE8o9ltc05O89jdN-dg2"})
	if err != nil {
		t.Fatal(err)
	}
	if c := r.verify(t, raw); c.Confirmation.GetCertificateThumbprint() == "" {
		t.Fatal("a certificate-bound client token has no x5t#S256")
	}
}
