package service_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc/codes"

	"github.com/authd-dev/authd/accounts"
	"github.com/authd-dev/authd/authdtest"
	authv1 "github.com/authd-dev/authd/gen/auth/v1"
	"github.com/authd-dev/authd/service"
	"github.com/authd-dev/authd/store"
)

// pausingStore holds every CreateSession until released, so a test can
// change the user between a login's password check and its session.
type pausingStore struct {
	service.Store
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
			p := &pausingStore{Store: e.Store, reached: make(chan struct{}), release: make(chan struct{})}
			svc, err := service.New(p, e.Signer, e.Verifier, e.Hasher, service.WithClock(e.Clock))
			if err != nil {
				t.Fatal(err)
			}
			srv, _, err := service.NewServer(svc)
			if err != nil {
				t.Fatal(err)
			}
			client := authv1.NewAuthServiceClient(authdtest.Serve(t, srv))
			done := make(chan error, 1)
			go func() {
				_, err := client.Login(bg, &authv1.LoginRequest{Username: "alice", Password: "correct horse"})
				done <- err
			}()
			<-p.reached // the password is checked; the session not yet stored
			if err := change(bg, accounts.New(e.Store, e.Hasher)); err != nil {
				t.Fatal(err)
			}
			close(p.release)
			authdtest.WantRefusal(t, <-done, codes.Unauthenticated, badCreds)
			u, _ := e.Store.UserByName(bg, "alice")
			if sessions, err := e.Store.ListSessions(bg, u.ID, e.Clock.Now()); err != nil || len(sessions) != 0 {
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
	if err := e.Store.SetDisabled(bg, "alice", true, e.Clock.Now()); err != nil { // no RevokeUserSessions
		t.Fatal(err)
	}
	_, err := e.Client.Refresh(authdtest.Bearer(bg, login.RefreshToken), &authv1.RefreshRequest{})
	authdtest.WantRefusal(t, err, codes.Unauthenticated, "TOKEN_REVOKED")
	e.Clock.Advance(2 * time.Second) // past the revocation cache's second
	_, err = e.Client.Verify(bg, &authv1.VerifyRequest{Token: login.AccessToken})
	authdtest.WantRefusal(t, err, codes.Unauthenticated, "TOKEN_REVOKED")
}
