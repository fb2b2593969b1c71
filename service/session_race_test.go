package service_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc/codes"

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
			if sessions, err := e.DB.ListSessions(bg, u.ID, e.Clock.Now()); err != nil || len(sessions) != 0 {
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
