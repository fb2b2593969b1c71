package main

import (
	"context"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/pquerna/otp/totp"

	"github.com/authd-dev/authd/authdtest/tokens"
	authv1 "github.com/authd-dev/authd/gen/auth/v1"
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
