package main

import (
	"context"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/pquerna/otp/totp"
	"google.golang.org/grpc/codes"

	"github.com/authd-dev/authd/authdtest/tokens"
	authv1 "github.com/authd-dev/authd/gen/auth/v1"
	"github.com/authd-dev/authd/wire"
)

// `authd user mfa NAME --reset`, as an operator runs it for a user who lost
// their authenticator: `user list` and `user mfa` show the factor, the
// reset removes it, and the next login needs only the password.
func TestE2E_UserMFAReset(t *testing.T) {
	t.Parallel()
	data := t.TempDir()
	srv := startServe(t, data, nil)
	authd(t, data, "correct horse\n", "user", "add", "frank", "--password-stdin")
	auth := authv1.NewAuthServiceClient(dial(t, srv.addr))
	ctx, cancel := context.WithTimeout(bg, patience)
	defer cancel()
	creds := &authv1.LoginRequest{Username: "frank", Password: "correct horse"}
	login, err := auth.Login(ctx, creds)
	if err != nil {
		t.Fatal(err)
	}
	fresh := tokens.Bearer(ctx, login.AccessToken)
	enrol, err := auth.EnrollTOTP(fresh, &authv1.EnrollTOTPRequest{})
	if err != nil {
		t.Fatal(err)
	}
	code, err := totp.GenerateCode(enrol.Secret, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := auth.ConfirmTOTP(fresh, &authv1.ConfirmTOTPRequest{Code: code}); err != nil {
		t.Fatal(err)
	}

	if out, _, _ := authd(t, data, "", "user", "list"); !regexp.MustCompile(`(?m)^frank\s+enabled\s+yes\s`).MatchString(out) {
		t.Fatalf("user list after enrolment:\n%s", out)
	}
	if out, errOut, code := authd(t, data, "", "user", "mfa", "frank"); code != 0 || out != "second factor: yes\nrecovery codes left: 10\n" {
		t.Fatalf("user mfa: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	if again, err := auth.Login(ctx, creds); err != nil || !again.SecondFactorRequired || again.AccessToken != "" {
		t.Fatalf("password login with a second factor: %v, %v", again, err)
	}
	out, errOut, exit := authd(t, data, "", "user", "mfa", "frank", "--reset")
	if exit != 0 || !strings.Contains(out, "1 second factor(s) removed") {
		t.Fatalf("user mfa --reset: exit %d, stdout %q, stderr %q", exit, out, errOut)
	}
	if after, err := auth.Login(ctx, creds); err != nil || after.SecondFactorRequired || after.AccessToken == "" {
		t.Fatalf("password login after the reset: %v, %v", after, err)
	}
	if out, _, _ := authd(t, data, "", "user", "list"); !regexp.MustCompile(`(?m)^frank\s+enabled\s+no\s`).MatchString(out) {
		t.Fatalf("user list after the reset:\n%s", out)
	}
	for _, bad := range [][]string{{"user", "mfa", "nobody"}, {"user", "list", "--reset"}, {"user", "mfa"}} {
		if _, _, code := authd(t, data, "", bad...); code == 0 {
			t.Errorf("authd %v: exit 0", bad)
		}
	}
}

// With --second-factor-roles authd:admin, an administrator's fresh token
// from a password alone no longer changes anything through AdminService
// (STEP_UP_REQUIRED, naming acr_values aal2); after enrolling a TOTP
// authenticator and logging in with a code, it does.
func TestE2E_SecondFactorRolesGuardAdminChanges(t *testing.T) {
	t.Parallel()
	data := t.TempDir()
	srv := startServe(t, data, nil, "--second-factor-roles", "authd:admin")
	authd(t, data, "correct horse\n", "user", "add", "root", "--role", "authd:admin", "--password-stdin")
	conn := dial(t, srv.addr)
	auth, admin := authv1.NewAuthServiceClient(conn), authv1.NewAdminServiceClient(conn)
	ctx, cancel := context.WithTimeout(bg, patience)
	defer cancel()
	creds := &authv1.LoginRequest{Username: "root", Password: "correct horse"}
	login, err := auth.Login(ctx, creds)
	if err != nil {
		t.Fatal(err)
	}
	create := &authv1.CreateUserRequest{Username: "grace", Password: "long enough pw"}
	_, err = admin.CreateUser(tokens.Bearer(ctx, login.AccessToken), create)
	tokens.WantRefusal(t, err, codes.Unauthenticated, wire.ReasonStepUpRequired)
	if _, err := admin.ListUsers(tokens.Bearer(ctx, login.AccessToken), &authv1.ListUsersRequest{}); err != nil {
		t.Fatalf("a read (ACCESS, not fresh) with the password's token: %v", err)
	}

	// Enrolment needs only the fresh token the password gave.
	fresh := tokens.Bearer(ctx, login.AccessToken)
	enrol, err := auth.EnrollTOTP(fresh, &authv1.EnrollTOTPRequest{})
	if err != nil {
		t.Fatal(err)
	}
	code := func(at time.Time) string {
		c, err := totp.GenerateCode(enrol.Secret, at)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	if _, err := auth.ConfirmTOTP(fresh, &authv1.ConfirmTOTPRequest{Code: code(time.Now())}); err != nil {
		t.Fatal(err)
	}
	challenge, err := auth.Login(ctx, creds)
	if err != nil {
		t.Fatal(err)
	}
	strong, err := auth.LoginSecondFactor(ctx, &authv1.LoginSecondFactorRequest{
		SecondFactorToken: challenge.SecondFactorToken, Code: code(time.Now().Add(30 * time.Second))})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := admin.CreateUser(tokens.Bearer(ctx, strong.AccessToken), create); err != nil {
		t.Fatalf("CreateUser with a second factor: %v", err)
	}
}
