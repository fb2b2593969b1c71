package service_test

import (
	"testing"

	"github.com/authd-dev/authd/authdtest/tokens"
	authv1 "github.com/authd-dev/authd/gen/auth/v1"
	"github.com/authd-dev/authd/internal/authdenv"
	"github.com/authd-dev/authd/password"
)

// A login whose stored hash has outdated parameters replaces it, and the
// session it opens works: a rehash is no change of the user's, so it ends
// no session (the login's own included).
func TestLogin_RehashKeepsTheSession(t *testing.T) {
	e := authdenv.New(t)
	older := tokens.CheapParams
	older.Memory *= 2
	oldHasher, err := password.NewHasher(older, 1)
	if err != nil {
		t.Fatal(err)
	}
	hash, err := oldHasher.Hash(bg, "correct horse")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.DB.CreateUser(bg, "alice", hash, e.Clock.Now()); err != nil {
		t.Fatal(err)
	}
	login := e.Login(t, "alice", "correct horse")
	u, err := e.DB.UserByName(bg, "alice")
	if err != nil || u.PasswordHash == hash {
		t.Fatalf("the outdated hash was not replaced: %v", err)
	}
	if _, err := e.Client.Refresh(tokens.Bearer(bg, login.RefreshToken), &authv1.RefreshRequest{}); err != nil {
		t.Fatalf("the session of the login that rehashed: %v", err)
	}
	if _, err := e.Client.Login(bg, &authv1.LoginRequest{Username: "alice", Password: "correct horse"}); err != nil {
		t.Fatalf("a login with the new hash: %v", err)
	}
}
