package service_test

import (
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"

	"github.com/authd-dev/authd/authdtest/tokens"
	authv1 "github.com/authd-dev/authd/gen/auth/v1"
	"github.com/authd-dev/authd/internal/authdenv"
	"github.com/authd-dev/authd/wire"
)

func TestLogout_WithRefreshOrExpiredAccess(t *testing.T) {
	e := newEnv(t)
	login := e.Login(t, "alice", "correct horse")
	e.Clock.Advance(16 * time.Minute) // the access token has expired
	_, err := e.Client.Logout(tokens.Bearer(bg, login.AccessToken), &authv1.LogoutRequest{})
	tokens.WantRefusal(t, err, codes.Unauthenticated, expired)
	if _, err := e.Client.Logout(tokens.Bearer(bg, login.RefreshToken), &authv1.LogoutRequest{}); err != nil {
		t.Fatalf("logout with the refresh token: %v", err)
	}
	_, err = e.Client.Refresh(tokens.Bearer(bg, login.RefreshToken), &authv1.RefreshRequest{})
	tokens.WantRefusal(t, err, codes.Unauthenticated, revoked)

	for name, md := range map[string]string{"no token": "", "garbage": "Bearer x.y.z"} {
		ctx := bg
		if md != "" {
			ctx = withAuthorization(bg, md)
		}
		_, err := e.Client.Logout(ctx, &authv1.LogoutRequest{})
		want := missing
		if md != "" {
			want = invalid
		}
		if err == nil {
			t.Fatalf("logout with %s succeeded", name)
		}
		tokens.WantRefusal(t, err, codes.Unauthenticated, want)
	}
}

// A session revoked behind this authd's back (another instance, or `authd
// user disable`) is refused once the revocation cache's second has passed;
// one revoked through this authd, at once.
func TestRevocationCache_StalenessBound(t *testing.T) {
	e := newEnv(t)
	login := e.Login(t, "alice", "correct horse")
	if _, err := verify(e, login.AccessToken, authv1.Requirement_REQUIREMENT_ACCESS); err != nil {
		t.Fatal(err)
	}
	var sid string
	if c, err := e.Verifier.Verify(bg, login.AccessToken); err == nil {
		sid = c.SessionID
	}
	if err := e.DB.RevokeSession(bg, sid, e.Clock.Now()); err != nil {
		t.Fatal(err)
	}
	if _, err := verify(e, login.AccessToken, authv1.Requirement_REQUIREMENT_ACCESS); err != nil {
		t.Fatalf("within the cache's TTL the cached state stands: %v", err)
	}
	e.Clock.Advance(time.Second)
	_, err := verify(e, login.AccessToken, authv1.Requirement_REQUIREMENT_ACCESS)
	tokens.WantRefusal(t, err, codes.Unauthenticated, revoked)
}

func TestListRevocations(t *testing.T) {
	e := newEnv(t)
	var sids []string
	for range 5 {
		l := e.Login(t, "alice", "correct horse")
		c, err := e.Verifier.Verify(bg, l.AccessToken)
		if err != nil {
			t.Fatal(err)
		}
		sids = append(sids, c.SessionID)
		if _, err := e.Client.Logout(tokens.Bearer(bg, l.AccessToken), &authv1.LogoutRequest{}); err != nil {
			t.Fatal(err)
		}
		e.Clock.Advance(time.Second)
	}
	e.Login(t, "alice", "correct horse") // live: not listed

	var got []string
	req := &authv1.ListRevocationsRequest{PageSize: 2}
	for pages := 0; ; pages++ {
		resp, err := e.Client.ListRevocations(bg, req)
		if err != nil {
			t.Fatal(err)
		}
		if resp.ServerTime != e.Clock.Now().Unix() {
			t.Fatalf("server_time = %d, want %d", resp.ServerTime, e.Clock.Now().Unix())
		}
		for _, r := range resp.Revocations {
			got = append(got, r.Sid)
			if r.ExpiresAt != tokens.Start.Add(168*time.Hour).Unix()+int64(len(got)-1) {
				t.Fatalf("revocation %d expires_at = %d", len(got), r.ExpiresAt)
			}
		}
		if resp.NextPageToken == "" {
			if pages != 2 {
				t.Fatalf("%d pages, want 3", pages+1)
			}
			break
		}
		req.PageToken = resp.NextPageToken
	}
	if len(got) != 5 {
		t.Fatalf("listed %v, want %v", got, sids)
	}
	for i := range sids {
		if got[i] != sids[i] {
			t.Fatalf("listed %v, want %v in revocation order", got, sids)
		}
	}
	resp, err := e.Client.ListRevocations(bg, &authv1.ListRevocationsRequest{Since: tokens.Start.Unix() + 3})
	if err != nil || len(resp.Revocations) != 2 || resp.NextPageToken != "" {
		t.Fatalf("since +3s: %v, %v; want the last 2", resp, err)
	}
	for _, bad := range []*authv1.ListRevocationsRequest{
		{PageToken: "!!"}, {PageToken: "eDp5"}, {PageToken: "MTo"}, {PageSize: -1}, {Since: -5},
	} {
		_, err := e.Client.ListRevocations(bg, bad)
		tokens.WantRefusal(t, err, codes.InvalidArgument, "")
	}
}

// Grace 0 is strict: the spent token presented again after its successor
// was used, even in the same second, is reuse and revokes the session.
// Before that use it gets the same pair, as with any grace.
func TestRefresh_StrictGraceZero(t *testing.T) {
	e := newEnv(t, func(o *authdenv.Options) { o.StrictReuse = true })
	login := e.Login(t, "alice", "correct horse")
	next, err := e.Client.Refresh(tokens.Bearer(bg, login.RefreshToken), &authv1.RefreshRequest{})
	if err != nil {
		t.Fatal(err)
	}
	again, err := e.Client.Refresh(tokens.Bearer(bg, login.RefreshToken), &authv1.RefreshRequest{})
	if err != nil || again.RefreshToken != next.RefreshToken {
		t.Fatalf("the spent token, its successor unused: %v", err)
	}
	last, err := e.Client.Refresh(tokens.Bearer(bg, next.RefreshToken), &authv1.RefreshRequest{})
	if err != nil {
		t.Fatal(err)
	}
	_, err = e.Client.Refresh(tokens.Bearer(bg, login.RefreshToken), &authv1.RefreshRequest{})
	tokens.WantRefusal(t, err, codes.Unauthenticated, revoked)
	_, err = e.Client.Refresh(tokens.Bearer(bg, last.RefreshToken), &authv1.RefreshRequest{})
	tokens.WantRefusal(t, err, codes.Unauthenticated, revoked)
}

// x-request-id is echoed when well formed and replaced otherwise, so
// nothing a caller sends reaches the logs unchecked.
func TestRequestID(t *testing.T) {
	e := newEnv(t)
	for sent, echoed := range map[string]bool{
		"trace-42.a_b":          true,
		"":                      false,
		"has spaces":            false,
		strings.Repeat("x", 65): false,
		"quote\"and;semicolon":  false,
	} {
		ctx := bg
		if sent != "" {
			ctx = metadata.AppendToOutgoingContext(bg, "x-request-id", sent)
		}
		var header metadata.MD
		if _, err := e.Client.GetJWKS(ctx, &authv1.GetJWKSRequest{}, grpc.Header(&header)); err != nil {
			t.Fatal(err)
		}
		got := header.Get(wire.RequestIDHeader)
		if len(got) != 1 || got[0] == "" || (got[0] == sent) != echoed {
			t.Errorf("sent %q: response x-request-id %q, echoed want %v", sent, got, echoed)
		}
		if !echoed && !strings.Contains(e.Logs.String(), "request_id="+got[0]) {
			t.Errorf("the generated id %q is not in the call log", got[0])
		}
	}
}
