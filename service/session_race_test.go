package service_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/authd-dev/authd/accounts"
	"github.com/authd-dev/authd/authdtest/tokens"
	authv1 "github.com/authd-dev/authd/gen/auth/v1"
	"github.com/authd-dev/authd/internal/authdenv"
	"github.com/authd-dev/authd/store"
	"github.com/authd-dev/authd/store/sqlite"
)

// pausingStore holds every CreateSession until released, so a test can
// change the user between a login's password check and its session.
type pausingStore struct {
	store.Store
	reached chan struct{}
	release chan struct{}
	once    sync.Once
}

func (p *pausingStore) CreateSession(ctx context.Context, s store.Session) error {
	p.once.Do(func() { close(p.reached) })
	<-p.release
	return p.Store.CreateSession(ctx, s)
}

// A login whose password was checked before a password change, a disable
// or a role change, and whose session would be stored after it, gets no
// session: the session is created only under the user's generation of the
// password check, in the same statement.
func TestLogin_RacingAChangeOpensNoSession(t *testing.T) {
	for name, change := range map[string]func(context.Context, *accounts.Manager) error{
		"password changed": func(ctx context.Context, m *accounts.Manager) error {
			_, err := m.SetPassword(ctx, "alice", "a new password")
			return err
		},
		"disabled": func(ctx context.Context, m *accounts.Manager) error {
			_, err := m.SetDisabled(ctx, "alice", true)
			return err
		},
		"roles changed": func(ctx context.Context, m *accounts.Manager) error {
			_, _, err := m.SetRoles(ctx, "alice", []string{"support"})
			return err
		},
	} {
		t.Run(name, func(t *testing.T) {
			e := newEnv(t)
			p := &pausingStore{reached: make(chan struct{}), release: make(chan struct{})}
			client := e.Restart(t, func(o *authdenv.Options) {
				o.Store = func(db *sqlite.DB) store.Store { p.Store = db; return p }
			}).Client
			done := make(chan error, 1)
			go func() {
				_, err := client.Login(bg, &authv1.LoginRequest{Username: "alice", Password: "correct horse"})
				done <- err
			}()
			<-p.reached // the password is checked; the session not yet stored
			if err := change(bg, e.Accounts); err != nil {
				t.Fatal(err)
			}
			close(p.release)
			tokens.WantRefusal(t, <-done, codes.Unauthenticated, badCreds)
			u, _ := e.DB.UserByName(bg, "alice")
			if sessions, err := e.DB.ListSessions(bg, u.ID, store.SessionCursor{}, 0, e.Clock.Now()); err != nil || len(sessions) != 0 {
				t.Fatalf("live sessions after the race: %v, %v", sessions, err)
			}
		})
	}
}

// A session opened before its user was disabled (or changed) cannot
// refresh, even when nothing revoked it explicitly.
func TestRefresh_StaleUserRefused(t *testing.T) {
	e := newEnv(t)
	login := e.Login(t, "alice", "correct horse")
	if err := e.DB.SetDisabled(bg, "alice", true, e.Clock.Now()); err != nil { // no RevokeUserSessions
		t.Fatal(err)
	}
	_, err := e.Client.Refresh(tokens.Bearer(bg, login.RefreshToken), &authv1.RefreshRequest{})
	tokens.WantRefusal(t, err, codes.Unauthenticated, "TOKEN_REVOKED")
	e.Clock.Advance(2 * time.Second) // past the revocation cache's second
	_, err = e.Client.Verify(bg, &authv1.VerifyRequest{Token: login.AccessToken})
	tokens.WantRefusal(t, err, codes.Unauthenticated, "TOKEN_REVOKED")
}

// pausingRotations holds the first Rotate until released: the refresh
// making it has read its token as current, as a slow twin has.
type pausingRotations struct {
	store.Store
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
// first answer: the slower twin, which read the token as current, answers
// with the pair its twin got and revokes nothing, though that pair has
// been used since.
func TestRefresh_SlowTwinAfterItsTwinsAnswerWasUsed(t *testing.T) {
	e := newEnv(t)
	p := &pausingRotations{reached: make(chan struct{}), release: make(chan struct{})}
	authd := e.Restart(t, func(o *authdenv.Options) {
		o.Store = func(db *sqlite.DB) store.Store { p.Store = db; return p }
	})
	login := authd.Login(t, "alice", "correct horse")
	slow := make(chan *authv1.RefreshResponse, 1)
	go func() {
		resp, err := authd.Client.Refresh(tokens.Bearer(bg, login.RefreshToken), &authv1.RefreshRequest{})
		if err != nil {
			t.Errorf("the slow twin: %v", err)
		}
		slow <- resp
	}()
	<-p.reached
	fast := authd.Refresh(t, login.RefreshToken)
	third := authd.Refresh(t, fast.RefreshToken)
	close(p.release)
	if got := <-slow; got == nil || got.RefreshToken != fast.RefreshToken || got.AccessToken != fast.AccessToken {
		t.Fatal("the slow twin did not answer with its twin's pair")
	}
	if _, err := authd.Client.Verify(bg, &authv1.VerifyRequest{Token: third.AccessToken}); err != nil {
		t.Fatalf("the session after the twins: %v", err)
	}
	authd.Refresh(t, third.RefreshToken)
}

// The race as it was measured (19 of 150 trials revoked): two parallel
// refreshes of one token, then at once a refresh with the first answer.
// No trial may revoke the session. The slower twin either read its token
// as current (it answers with its twin's pair) or arrived after the first
// answer was used (REFRESH_SUPERSEDED within the grace; with grace 0 that
// is reuse, which is why the default grace is not 0).
func TestRefresh_ParallelTwinsThenTheFirstAnswerNeverRevoke(t *testing.T) {
	e := newEnv(t)
	for trial := range 150 {
		login := e.Login(t, "alice", "correct horse")
		answers := make(chan *authv1.RefreshResponse, 2)
		errs := make(chan error, 2)
		for range 2 {
			go func() {
				resp, err := e.Client.Refresh(tokens.Bearer(bg, login.RefreshToken), &authv1.RefreshRequest{})
				if err != nil {
					errs <- err
					return
				}
				answers <- resp
			}()
		}
		var first *authv1.RefreshResponse
		select {
		case first = <-answers:
		case err := <-errs:
			t.Fatalf("trial %d: a twin: %v", trial, err)
		}
		third, err := e.Client.Refresh(tokens.Bearer(bg, first.RefreshToken), &authv1.RefreshRequest{})
		if err != nil {
			t.Fatalf("trial %d: the refresh with the first answer: %v", trial, err)
		}
		select {
		case second := <-answers:
			if second.RefreshToken != first.RefreshToken {
				t.Fatalf("trial %d: the twins got different pairs: the session forked", trial)
			}
		case err := <-errs:
			if status.Code(err) == codes.Unauthenticated {
				t.Fatalf("trial %d: the slower twin: %v", trial, err)
			}
		}
		if _, err := e.Client.Refresh(tokens.Bearer(bg, third.RefreshToken), &authv1.RefreshRequest{}); err != nil {
			t.Fatalf("trial %d: the session after the race: %v", trial, err)
		}
	}
}
