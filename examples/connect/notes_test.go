package main

import (
	"context"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"

	notesv1 "github.com/authd-dev/authd/examples/connect/gen/notes/v1"
	"github.com/authd-dev/authd/examples/connect/gen/notes/v1/notesv1connect"

	"github.com/authd-dev/authd/authdtest"
	"github.com/authd-dev/authd/connectauth"
	authv1 "github.com/authd-dev/authd/gen/auth/v1"
	"github.com/authd-dev/authd/guard"
	"github.com/authd-dev/authd/protect"
	"github.com/authd-dev/authd/revocation"
	"github.com/authd-dev/authd/wire"
)

func startNotes(t *testing.T) (*authdtest.Env, notesv1connect.NoteServiceClient) {
	t.Helper()
	env, srv := serveNotes(t)
	return env, notesv1connect.NewNoteServiceClient(srv.Client(), srv.URL)
}

// serveNotes serves the NoteService, verifying the tokens of an authd of
// its own, on a loopback port.
func serveNotes(t *testing.T) (*authdtest.Env, *httptest.Server) {
	t.Helper()
	env := authdtest.New(t)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel) // stops the revocation poller
	authn, err := connectauth.Protect(ctx, env.Conn, protect.Config{Guard: guard.Config{Clock: env.Clock}})
	if err != nil {
		t.Fatal(err)
	}
	mux, err := newMux(authn)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return env, srv
}

// bearer is msg in a request with `authorization: Bearer tok`.
func bearer[T any](tok string, msg *T) *connect.Request[T] {
	req := connect.NewRequest(msg)
	req.Header().Set("Authorization", "Bearer "+tok)
	return req
}

func TestNotes_LoggedOutUserRefused(t *testing.T) {
	env, notes := startNotes(t)
	env.AddUser(t, "alice", "alice's password")
	alice := env.Login(t, "alice", "alice's password")
	req := bearer(alice.GetAccessToken(), &notesv1.ListNotesRequest{})
	if _, err := notes.ListNotes(context.Background(), req); err != nil {
		t.Fatal(err)
	}
	env.Logout(t, alice.GetRefreshToken())
	if !env.Clock.WaitForTimers(1, 5*time.Second) {
		t.Fatal("the revocation poller is not waiting")
	}
	env.Clock.Advance(revocation.DefaultPollInterval)
	if !env.Clock.WaitForTimers(1, 5*time.Second) {
		t.Fatal("no poll after the interval")
	}
	_, err := notes.ListNotes(context.Background(), req)
	wantRefusal(t, err, connect.CodeUnauthenticated, wire.ReasonTokenRevoked)
}

func TestNotes_EachUserSeesOwnNotes(t *testing.T) {
	env, notes := startNotes(t)
	ctx := context.Background()
	env.AddUser(t, "alice", "alice's password")
	env.AddUser(t, "bob", "bob's password")
	alice := env.Login(t, "alice", "alice's password").GetAccessToken()
	bob := env.Login(t, "bob", "bob's password").GetAccessToken()
	for i, text := range []string{"milk", "eggs"} {
		res, err := notes.AddNote(ctx, bearer(alice, &notesv1.AddNoteRequest{Text: text}))
		if err != nil {
			t.Fatal(err)
		}
		if got := res.Msg.GetCount(); got != int32(i+1) {
			t.Fatalf("count = %d, want %d", got, i+1)
		}
	}
	for _, tc := range []struct {
		token, owner string
		notes        []string
	}{
		{alice, "alice", []string{"milk", "eggs"}},
		{bob, "bob", nil},
	} {
		res, err := notes.ListNotes(ctx, bearer(tc.token, &notesv1.ListNotesRequest{}))
		if err != nil {
			t.Fatal(err)
		}
		if got := res.Msg.GetOwner(); got != tc.owner {
			t.Errorf("owner = %q, want %q", got, tc.owner)
		}
		if got := strings.Join(res.Msg.GetNotes(), ","); got != strings.Join(tc.notes, ",") {
			t.Errorf("%s's notes = %q, want %q", tc.owner, got, tc.notes)
		}
	}
}

func TestNotes_WithoutTokenRefused(t *testing.T) {
	_, notes := startNotes(t)
	_, err := notes.ListNotes(context.Background(), connect.NewRequest(&notesv1.ListNotesRequest{}))
	wantRefusal(t, err, connect.CodeUnauthenticated, wire.ReasonTokenMissing)
}

// ClearNotes wants a fresh token with a second factor proven within five
// minutes: a password login is asked to step up, a login with a code
// passes, and a token refreshed from it is not fresh.
func TestNotes_ClearNeedsARecentSecondFactor(t *testing.T) {
	env, notes := startNotes(t)
	ctx := context.Background()
	env.AddUser(t, "alice", "alice's password")
	password := env.Login(t, "alice", "alice's password").GetAccessToken()
	_, err := notes.ClearNotes(ctx, bearer(password, &notesv1.ClearNotesRequest{}))
	wantRefusal(t, err, connect.CodeUnauthenticated, wire.ReasonStepUpRequired)

	app := env.EnrollTOTP(t, "alice", "alice's password")
	env.Clock.Advance(30 * time.Second) // the confirmation spent this step's code
	challenge := env.Login(t, "alice", "alice's password").GetSecondFactorToken()
	login, err := env.Client().LoginSecondFactor(ctx, &authv1.LoginSecondFactorRequest{SecondFactorToken: challenge, Code: app.Code(t)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := notes.ClearNotes(ctx, bearer(login.GetAccessToken(), &notesv1.ClearNotesRequest{})); err != nil {
		t.Fatal(err)
	}
	refreshed := env.Refresh(t, login.GetRefreshToken()).GetAccessToken()
	_, err = notes.ClearNotes(ctx, bearer(refreshed, &notesv1.ClearNotesRequest{}))
	wantRefusal(t, err, connect.CodeUnauthenticated, wire.ReasonFreshTokenRequired)
}

// A browser sends the access cookie that authd's Login set
// (set_cookies); the call counts only with the CSRF cookie's value in the
// x-csrf-token header, which a page of another origin cannot read.
func TestNotes_CookieNeedsCSRFHeader(t *testing.T) {
	env, notes := startNotes(t)
	env.AddUser(t, "alice", "alice's password")
	access := env.Login(t, "alice", "alice's password").GetAccessToken()
	const csrf = "c2FtZS1zaXRlIGJ1dCBub3QgdGhpcyBwYWdl" // authd mints 43 random characters
	cookies := wire.AccessCookie + "=" + access + "; " + wire.CSRFCookie + "=" + csrf
	for _, tc := range []struct {
		name, cookie string
		header       []string
		code         connect.Code // 0: accepted
		reason       string
	}{
		{"cookie and header", cookies, []string{csrf}, 0, ""},
		{"no header", cookies, nil, connect.CodePermissionDenied, wire.ReasonCSRFTokenInvalid},
		{"another value", cookies, []string{csrf[1:] + "x"}, connect.CodePermissionDenied, wire.ReasonCSRFTokenInvalid},
		{"two headers", cookies, []string{csrf, csrf}, connect.CodePermissionDenied, wire.ReasonCSRFTokenInvalid},
		{"no CSRF cookie", wire.AccessCookie + "=" + access, []string{csrf}, connect.CodePermissionDenied, wire.ReasonCSRFTokenInvalid},
		{"no access cookie", wire.CSRFCookie + "=" + csrf, []string{csrf}, connect.CodeUnauthenticated, wire.ReasonTokenMissing},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := connect.NewRequest(&notesv1.ListNotesRequest{})
			req.Header().Set("Cookie", tc.cookie)
			for _, v := range tc.header {
				req.Header().Add(wire.CSRFHeader, v)
			}
			res, err := notes.ListNotes(context.Background(), req)
			if tc.code == 0 {
				if err != nil {
					t.Fatal(err)
				}
				if got := res.Msg.GetOwner(); got != "alice" {
					t.Fatalf("owner = %q, want alice", got)
				}
				return
			}
			wantRefusal(t, err, tc.code, tc.reason)
		})
	}
}

func TestNotes_AddNoteChecksText(t *testing.T) {
	env, notes := startNotes(t)
	env.AddUser(t, "alice", "alice's password")
	alice := env.Login(t, "alice", "alice's password").GetAccessToken()
	for _, text := range []string{"", strings.Repeat("é", maxNoteLength+1)} {
		_, err := notes.AddNote(context.Background(), bearer(alice, &notesv1.AddNoteRequest{Text: text}))
		if connect.CodeOf(err) != connect.CodeInvalidArgument {
			t.Errorf("AddNote(%q): %v, want InvalidArgument", text, err)
		}
	}
	if _, err := notes.AddNote(context.Background(), bearer(alice, &notesv1.AddNoteRequest{Text: strings.Repeat("é", maxNoteLength)})); err != nil {
		t.Fatal(err)
	}
}

// wantRefusal fails the test unless err has code and authd's ErrorInfo
// reason.
func wantRefusal(t *testing.T, err error, code connect.Code, reason string) {
	t.Helper()
	if err == nil {
		t.Fatalf("call succeeded, want %v %s", code, reason)
	}
	if got := connect.CodeOf(err); got != code {
		t.Fatalf("code = %v, want %v (err: %v)", got, code, err)
	}
	if got := connectauth.Reason(err); got != reason {
		t.Fatalf("reason = %q, want %q (err: %v)", got, reason, err)
	}
}
