package service_test

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/authd-dev/authd/accounts"
	"github.com/authd-dev/authd/authdtest/tokens"
	authv1 "github.com/authd-dev/authd/gen/auth/v1"
	"github.com/authd-dev/authd/internal/authdenv"
)

// FuzzLogin drives Login's request handling with arbitrary bytes (including
// invalid UTF-8, which a Go client cannot even send): it never panics, and
// answers only OK, InvalidArgument or INVALID_CREDENTIALS, never leaking the
// password into the logs.
func FuzzLogin(f *testing.F) {
	// Throttling runs (its keys are built from the fuzzed username) but never
	// refuses, so every input reaches the password check.
	lenient := accounts.DefaultThrottlePolicy
	lenient.AccountAddress.Free, lenient.Address.Free, lenient.Account.Free = 1<<30, 1<<30, 1<<30
	e := authdenv.New(f, func(o *authdenv.Options) { o.Accounts.Throttle = lenient })
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
			tokens.WantRefusal(t, err, codes.Unauthenticated, badCreds)
		default:
			t.Fatalf("Login(%q, %q): %v", user, pw, err)
		}
		if logged := e.Logs.String()[before:]; len(pw) >= 8 && strings.Contains(logged, pw) {
			t.Fatalf("password %q appears in the logs", pw)
		}
	})
}

// FuzzListRevocations pages through revocations from arbitrary page tokens
// (opaque to callers, so anything may come back): it never panics, and
// answers InvalidArgument or a page that some cursor gives: a run of the
// full list, in order, full when it offers a next page. Its seeds are the
// tokens a real listing hands out, and testdata/fuzz/FuzzListRevocations.
func FuzzListRevocations(f *testing.F) {
	e := authdenv.New(f)
	e.AddUser(f, "alice", "correct horse")
	for range 5 { // five revoked sessions, a second apart
		login := e.Login(f, "alice", "correct horse")
		if _, err := e.Client.Logout(tokens.Bearer(bg, login.AccessToken), &authv1.LogoutRequest{}); err != nil {
			f.Fatal(err)
		}
		e.Clock.Advance(time.Second)
	}
	all, err := e.Service.ListRevocations(bg, &authv1.ListRevocationsRequest{})
	if err != nil || len(all.Revocations) != 5 || all.NextPageToken != "" {
		f.Fatalf("the full list: %v, %v", all, err)
	}
	const size = 2
	req := &authv1.ListRevocationsRequest{PageSize: size}
	for {
		f.Add(req.PageToken)
		resp, err := e.Service.ListRevocations(bg, req)
		if err != nil {
			f.Fatal(err)
		}
		if resp.NextPageToken == "" {
			break
		}
		req.PageToken = resp.NextPageToken
	}

	f.Fuzz(func(t *testing.T, tok string) {
		resp, err := e.Service.ListRevocations(bg, &authv1.ListRevocationsRequest{PageToken: tok, PageSize: size})
		switch status.Code(err) {
		case codes.InvalidArgument:
			return
		case codes.OK:
		default:
			t.Fatalf("page_token %q: %v", tok, err)
		}
		page := resp.GetRevocations()
		start := len(all.Revocations)
		if len(page) > 0 {
			start = slices.IndexFunc(all.Revocations, func(r *authv1.Revocation) bool { return r.Sid == page[0].Sid })
		}
		if start < 0 {
			t.Fatalf("page_token %q: listed %v, which is not revoked", tok, page[0])
		}
		want := all.Revocations[start:min(start+size, len(all.Revocations))]
		if len(page) != len(want) {
			t.Fatalf("page_token %q: %d revocations from #%d of %d, want %d (page size %d)", tok, len(page), start, len(all.Revocations), len(want), size)
		}
		for i := range page {
			if !proto.Equal(page[i], want[i]) {
				t.Fatalf("page_token %q: revocation %d is %v, want %v: not a run of the list", tok, i, page[i], want[i])
			}
		}
		if (resp.NextPageToken != "") != (len(page) == size) {
			t.Fatalf("page_token %q: %d of %d listed, next_page_token %q", tok, len(page), size, resp.NextPageToken)
		}
		if resp.ServerTime != e.Clock.Now().Unix() {
			t.Fatalf("page_token %q: server_time %d, want %d", tok, resp.ServerTime, e.Clock.Now().Unix())
		}
	})
}
