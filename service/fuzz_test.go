package service_test

import (
	"context"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	authv1 "github.com/authd-dev/authd/gen/auth/v1"
	"github.com/authd-dev/authd/internal/authdtest"
	"github.com/authd-dev/authd/service"
)

// FuzzLogin drives Login's request handling with arbitrary bytes (including
// invalid UTF-8, which a Go client cannot even send): it never panics, and
// answers only OK, InvalidArgument or INVALID_CREDENTIALS, never leaking the
// password into the logs.
func FuzzLogin(f *testing.F) {
	// Throttling runs (its keys are built from the fuzzed username) but never
	// refuses, so every input reaches the password check.
	lenient := service.DefaultThrottlePolicy
	lenient.AccountAddress.Free, lenient.Address.Free, lenient.Account.Free = 1<<30, 1<<30, 1<<30
	e := authdtest.New(f, authdtest.WithServiceOptions(service.WithThrottle(lenient)))
	e.AddUser(f, "alice", "correct horse")
	for _, s := range [][2]string{
		{"alice", "correct horse"}, {"alice", "wrong"}, {"", ""}, {"alice", strings.Repeat("x", 1025)},
		{"al\x00ice", "pw"}, {"alice", "\xff\xfe"}, {"\xffalice", "pw"}, {" alice", "pw"}, {"bob", "correct horse"},
	} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, user, pw string) {
		before := len(e.Logs.String())
		resp, err := e.Service.Login(context.Background(), &authv1.LoginRequest{Username: user, Password: pw})
		switch status.Code(err) {
		case codes.OK:
			if user != "alice" || pw != "correct horse" || resp.AccessToken == "" {
				t.Fatalf("Login(%q, %q) succeeded", user, pw)
			}
		case codes.InvalidArgument:
		case codes.Unauthenticated:
			authdtest.WantRefusal(t, err, codes.Unauthenticated, badCreds)
		default:
			t.Fatalf("Login(%q, %q): %v", user, pw, err)
		}
		if logged := e.Logs.String()[before:]; len(pw) >= 8 && strings.Contains(logged, pw) {
			t.Fatalf("password %q appears in the logs", pw)
		}
	})
}
