package service_test

import (
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/authd-dev/authd/authdtest/tokens"
	authv1 "github.com/authd-dev/authd/gen/auth/v1"
	"github.com/authd-dev/authd/internal/authdenv"
)

// weakPasswords are refused as new passwords by ChangePassword and the
// admin API alike, each with the message that says why.
var weakPasswords = []struct{ pw, message string }{
	{"short", "password has 5 characters, fewer than 8"},
	{"ünïcödé", "password has 7 characters, fewer than 8"}, // characters, not bytes
	{"password", "one of the most common passwords"},
	{"Password123", "one of the most common passwords"}, // regardless of case
	{"12345678", "one of the most common passwords"},
	{strings.Repeat("x", 1025), "longer than 1024 bytes"},
}

func TestChangePassword_RefusesWeakNewPasswordsYetLoginAcceptsOldOnes(t *testing.T) {
	e := authdenv.New(t)
	// A password set before the policy (straight into the store) still logs in.
	e.AddUser(t, "olga", "pw")
	login := e.Login(t, "olga", "pw")
	for _, weak := range weakPasswords {
		_, err := e.Client.ChangePassword(tokens.Bearer(bg, login.AccessToken),
			&authv1.ChangePasswordRequest{OldPassword: "pw", NewPassword: weak.pw})
		if status.Code(err) != codes.InvalidArgument || !strings.Contains(status.Convert(err).Message(), weak.message) {
			t.Errorf("new password %.20q: %v; want InvalidArgument %q", weak.pw, err, weak.message)
		}
	}
	e.Login(t, "olga", "pw") // the refusals changed nothing
	if _, err := e.Client.ChangePassword(tokens.Bearer(bg, login.AccessToken),
		&authv1.ChangePasswordRequest{OldPassword: "pw", NewPassword: "eight ch"}); err != nil {
		t.Fatalf("a new password of exactly 8 characters: %v", err)
	}
	e.Login(t, "olga", "eight ch")
}

func TestAdminCreateUser_RefusesWeakPasswords(t *testing.T) {
	w := newAdminWorld(t)
	for _, weak := range weakPasswords {
		_, err := w.admin.CreateUser(w.asRoot(), &authv1.CreateUserRequest{Username: "carol", Password: weak.pw})
		if status.Code(err) != codes.InvalidArgument || !strings.Contains(status.Convert(err).Message(), weak.message) {
			t.Errorf("password %.20q: %v; want InvalidArgument %q", weak.pw, err, weak.message)
		}
	}
	w.addUser(t, "carol", "a long passphrase")
	w.Login(t, "carol", "a long passphrase")
}
