package service_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/authd-dev/authd/authdtest/tokens"
	authv1 "github.com/authd-dev/authd/gen/auth/v1"
	"github.com/authd-dev/authd/internal/authdenv"
	"github.com/authd-dev/authd/session"
	"github.com/authd-dev/authd/store"
	"github.com/authd-dev/authd/wire"
)

// The claims of a user's access token, and of a refresh token: what authd
// mints, nothing more.
var (
	userAccessClaims  = []string{"acr", "amr", "aud", "auth_time", "exp", "fresh", "iat", "iss", "jti", "nbf", "roles", "sid", "sub", "type"}
	refreshClaimNames = []string{"aud", "auth_time", "exp", "fresh", "iat", "iss", "jti", "nbf", "sid", "sub", "type"}
	// roleLessAccess: an access token of a user without roles.
	roleLessAccess = []string{"acr", "amr", "aud", "auth_time", "exp", "fresh", "iat", "iss", "jti", "nbf", "sid", "sub", "type"}
)

// authzPayload decodes the payload of raw without verifying it, as a
// client reading its own token does, and fails the test when a member
// name appears twice: a reader would then see whichever it happens to
// prefer. Values are kept as their JSON text, to be compared exactly.
func authzPayload(t *testing.T, raw string) map[string]string {
	t.Helper()
	parts := strings.Split(raw, ".")
	if len(parts) != 3 {
		t.Fatalf("token has %d segments", len(parts))
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	dec := json.NewDecoder(strings.NewReader(string(b)))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		t.Fatalf("payload %s is not an object", b)
	}
	out := map[string]string{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			t.Fatal(err)
		}
		name := tok.(string)
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			t.Fatal(err)
		}
		if _, dup := out[name]; dup {
			t.Fatalf("payload %s: member %q appears twice", b, name)
		}
		out[name] = string(v)
	}
	return out
}

// wantClaimNames fails the test unless the payload has exactly names.
func wantClaimNames(t *testing.T, what string, payload map[string]string, names []string) {
	t.Helper()
	if got := slices.Sorted(maps.Keys(payload)); !slices.Equal(got, names) {
		t.Fatalf("%s has claims %v, want %v (payload %v)", what, got, names, payload)
	}
}

func unixJSON(t time.Time) string { return strconv.FormatInt(t.Unix(), 10) }

// authzVerify asks authd whether tok passes req.
func authzVerify(t *testing.T, e *authdenv.Env, tok string, req authv1.Requirement) (*authv1.Claims, error) {
	t.Helper()
	resp, err := e.Client.Verify(context.Background(), &authv1.VerifyRequest{Token: tok, Requirement: req})
	return resp.GetClaims(), err
}

// mustVerify is authzVerify that fails the test on refusal.
func mustVerify(t *testing.T, e *authdenv.Env, tok string, req authv1.Requirement) *authv1.Claims {
	t.Helper()
	c, err := authzVerify(t, e, tok, req)
	if err != nil {
		t.Fatalf("Verify(%s): %v", req, err)
	}
	return c
}

// setStoreRoles changes a user's roles in the store behind authd's back:
// no session is revoked, as an operator editing the database would.
func setStoreRoles(t *testing.T, e *authdenv.Env, name string, roles ...string) {
	t.Helper()
	if err := e.DB.SetRoles(context.Background(), name, roles, e.Clock.Now()); err != nil {
		t.Fatal(err)
	}
}

// wantPermissionDenied fails the test unless err is PermissionDenied with
// reason, the message msg, and ErrorInfo{domain authd, reason, metadata
// exactly {key: value}}.
func wantPermissionDenied(t *testing.T, err error, reason, key, value, msg string) {
	t.Helper()
	tokens.WantRefusal(t, err, codes.PermissionDenied, reason)
	st := status.Convert(err)
	if st.Message() != msg {
		t.Fatalf("message = %q, want %q", st.Message(), msg)
	}
	var infos []*errdetails.ErrorInfo
	for _, d := range st.Details() {
		if info, ok := d.(*errdetails.ErrorInfo); ok {
			infos = append(infos, info)
		}
	}
	if len(infos) != 1 {
		t.Fatalf("%d ErrorInfo details, want 1 (err: %v)", len(infos), err)
	}
	want := map[string]string{key: value}
	if infos[0].GetDomain() != wire.Domain || !maps.Equal(infos[0].GetMetadata(), want) {
		t.Fatalf("ErrorInfo = %v, want domain %q and metadata %v", infos[0], wire.Domain, want)
	}
}

// A user's roles go into the access token (the roles claim) and into what
// Verify answers; the refresh token carries none, since no method checks
// a refresh token's roles.
func TestLogin_AccessTokenCarriesTheUsersRoles(t *testing.T) {
	e := authdenv.New(t)
	e.AddUser(t, "alice", "pw")
	setStoreRoles(t, e, "alice", "billing", "support")
	login := e.Login(t, "alice", "pw")

	access := authzPayload(t, login.AccessToken)
	wantClaimNames(t, "access token", access, userAccessClaims)
	if access["roles"] != `["billing","support"]` || access["sub"] != `"alice"` || access["type"] != `"access"` {
		t.Fatalf("access payload = %v", access)
	}
	refresh := authzPayload(t, login.RefreshToken)
	wantClaimNames(t, "refresh token", refresh, refreshClaimNames)

	c := mustVerify(t, e, login.AccessToken, authv1.Requirement_REQUIREMENT_FRESH_ACCESS)
	if !slices.Equal(c.Roles, []string{"billing", "support"}) || len(c.Scopes) != 0 || c.Subject != "alice" {
		t.Fatalf("access claims = %v", c)
	}
	c = mustVerify(t, e, login.RefreshToken, authv1.Requirement_REQUIREMENT_REFRESH)
	if len(c.Roles) != 0 || len(c.Scopes) != 0 {
		t.Fatalf("refresh claims = %v, want no roles or scopes", c)
	}

	// A user without roles gets no roles claim at all.
	e.AddUser(t, "bob", "pw")
	bob := authzPayload(t, e.Login(t, "bob", "pw").AccessToken)
	wantClaimNames(t, "role-less access token", bob, roleLessAccess)
}

// No token minted after a role change carries the old roles: a change made
// in the store alone (no revocation asked for) moves the user's generation,
// which ends the sessions opened before it, so neither Refresh nor Renew
// mints from them; the next login carries the new roles, whether a role
// was removed, added, or all of them taken away.
func TestRefreshAndRenew_RoleChangeInTheStoreEndsTheSessions(t *testing.T) {
	e := authdenv.New(t)
	e.AddUser(t, "alice", "pw")
	ctx := context.Background()
	for _, step := range []struct {
		name  string
		roles []string
		claim string // the roles claim of the next login, "" for none
	}{
		{"remove a role", []string{"support"}, `["support"]`},
		{"add a role", []string{"ops", "support"}, `["ops","support"]`},
		{"remove every role", nil, ""},
	} {
		login := e.Login(t, "alice", "pw")
		e.Clock.Advance(time.Minute) // so that a renewal would extend the token
		setStoreRoles(t, e, "alice", step.roles...)

		_, err := e.Client.Refresh(tokens.Bearer(ctx, login.RefreshToken), &authv1.RefreshRequest{})
		tokens.WantRefusal(t, err, codes.Unauthenticated, wire.ReasonTokenRevoked)
		_, err = e.Client.Renew(tokens.Bearer(ctx, login.AccessToken), &authv1.RenewRequest{})
		tokens.WantRefusal(t, err, codes.Unauthenticated, wire.ReasonTokenRevoked)
		_, err = authzVerify(t, e, login.AccessToken, authv1.Requirement_REQUIREMENT_ACCESS)
		tokens.WantRefusal(t, err, codes.Unauthenticated, wire.ReasonTokenRevoked)

		next := authzPayload(t, e.Login(t, "alice", "pw").AccessToken)
		if step.claim == "" {
			wantClaimNames(t, step.name+": access token", next, roleLessAccess)
		} else if next["roles"] != step.claim {
			t.Fatalf("%s: next login's roles claim = %s, want %s", step.name, next["roles"], step.claim)
		}
	}
}

// Between role changes, every refresh and renewal reads the roles again
// and mints them as they are.
func TestRefreshAndRenew_KeepTheRoles(t *testing.T) {
	e := authdenv.New(t)
	e.AddUser(t, "alice", "pw")
	setStoreRoles(t, e, "alice", "billing", "support")
	login := e.Login(t, "alice", "pw")
	ctx := context.Background()
	e.Clock.Advance(time.Minute)
	refreshed, err := e.Client.Refresh(tokens.Bearer(ctx, login.RefreshToken), &authv1.RefreshRequest{})
	if err != nil {
		t.Fatal(err)
	}
	e.Clock.Advance(time.Minute)
	renewed, err := e.Client.Renew(tokens.Bearer(ctx, refreshed.AccessToken), &authv1.RenewRequest{})
	if err != nil {
		t.Fatal(err)
	}
	for what, tok := range map[string]string{"refreshed": refreshed.AccessToken, "renewed": renewed.AccessToken} {
		wantClaimNames(t, what+" access token", authzPayload(t, tok), userAccessClaims)
		if c := mustVerify(t, e, tok, authv1.Requirement_REQUIREMENT_ACCESS); !slices.Equal(c.Roles, []string{"billing", "support"}) || c.Fresh {
			t.Fatalf("%s: claims = %v", what, c)
		}
	}
	wantClaimNames(t, "rotated refresh token", authzPayload(t, refreshed.RefreshToken), refreshClaimNames)
}

// claimsRecorder is a ClaimsHook that records its calls, and fails while
// failing is set.
type claimsRecorder struct {
	mu      sync.Mutex
	calls   []string
	failing atomic.Bool
	claims  map[string]any
}

var errDirectoryDown = errors.New("directory down")

func (r *claimsRecorder) hook(_ context.Context, subject string, roles []string) (map[string]any, error) {
	r.mu.Lock()
	r.calls = append(r.calls, subject+" "+strings.Join(roles, ","))
	r.mu.Unlock()
	if r.failing.Load() {
		return nil, errDirectoryDown
	}
	return r.claims, nil
}

func (r *claimsRecorder) recorded() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.calls)
}

// The hook's claims go into every access token authd mints for a user (at
// login, refresh and renewal), never into refresh tokens, and a hook that
// tries to set a claim authd sets itself is ignored for that claim.
func TestAdditionalClaims_AddedToAccessTokensOnly(t *testing.T) {
	rec := &claimsRecorder{claims: map[string]any{
		"tenant": "acme",
		"org":    map[string]any{"id": 7},
		// Every claim authd sets or checks itself: none may be overridden.
		"iss": "evil", "sub": "mallory", "aud": "evil", "exp": 4102444800, "nbf": 0, "iat": 0,
		"jti": "forged", "type": "refresh", "fresh": false, "sid": "another-session", "auth_time": 0,
		"roles": []string{"authd:admin"}, "scope": "orders:write", "csrf": "x",
	}}
	e := authdenv.New(t, func(o *authdenv.Options) { o.Session.Claims = rec.hook })
	e.AddUser(t, "alice", "pw")
	setStoreRoles(t, e, "alice", "support")
	ctx := context.Background()
	withExtras := append(slices.Clone(userAccessClaims), "org", "tenant")
	slices.Sort(withExtras)

	// check verifies that tok is alice's access token of sid with authd's
	// own claims and the hook's extra ones.
	check := func(what, tok, sid string, fresh bool, iat time.Time) {
		t.Helper()
		p := authzPayload(t, tok)
		wantClaimNames(t, what, p, withExtras)
		want := map[string]string{
			"tenant": `"acme"`, "org": `{"id":7}`,
			"iss": `"authd"`, "sub": `"alice"`, "aud": `"authd"`, "type": `"access"`, "fresh": strconv.FormatBool(fresh),
			"roles": `["support"]`, "sid": strconv.Quote(sid),
			"iat": unixJSON(iat), "nbf": unixJSON(iat), "exp": unixJSON(iat.Add(15 * time.Minute)), "auth_time": unixJSON(tokens.Start),
		}
		for name, v := range want {
			if p[name] != v {
				t.Fatalf("%s: claim %s = %s, want %s", what, name, p[name], v)
			}
		}
		if p["jti"] == `"forged"` {
			t.Fatalf("%s: jti overridden", what)
		}
		req := authv1.Requirement_REQUIREMENT_ACCESS
		if fresh {
			req = authv1.Requirement_REQUIREMENT_FRESH_ACCESS
		}
		c := mustVerify(t, e, tok, req)
		if c.Subject != "alice" || c.Type != "access" || c.Fresh != fresh || c.Sid != sid || !slices.Equal(c.Roles, []string{"support"}) ||
			len(c.Scopes) != 0 || c.ExpiresAt != iat.Add(15*time.Minute).Unix() || c.Issuer != "authd" {
			t.Fatalf("%s: Verify claims = %v", what, c)
		}
	}

	login := e.Login(t, "alice", "pw")
	sid := mustVerify(t, e, login.RefreshToken, authv1.Requirement_REQUIREMENT_REFRESH).Sid
	check("login", login.AccessToken, sid, true, tokens.Start)
	wantClaimNames(t, "refresh token", authzPayload(t, login.RefreshToken), refreshClaimNames)

	e.Clock.Advance(time.Minute)
	refreshed, err := e.Client.Refresh(tokens.Bearer(ctx, login.RefreshToken), &authv1.RefreshRequest{})
	if err != nil {
		t.Fatal(err)
	}
	check("refresh", refreshed.AccessToken, sid, false, e.Clock.Now())
	wantClaimNames(t, "rotated refresh token", authzPayload(t, refreshed.RefreshToken), refreshClaimNames)

	e.Clock.Advance(time.Minute)
	renewed, err := e.Client.Renew(tokens.Bearer(ctx, refreshed.AccessToken), &authv1.RenewRequest{})
	if err != nil {
		t.Fatal(err)
	}
	check("renew", renewed.AccessToken, sid, false, e.Clock.Now())

	if got, want := rec.recorded(), []string{"alice support", "alice support", "alice support"}; !slices.Equal(got, want) {
		t.Fatalf("hook calls = %q, want %q", got, want)
	}
}

// A hook claim whose name differs from one of authd's only in case
// ("Sub", "ROLES") is a registered claim too: Go's encoding/json would
// read it as the real one, which is why authd's Verifier refuses any token
// carrying such a member. authd must therefore leave it out (or fail the
// call), never mint a token that it and every consumer then refuse.
func TestAdditionalClaims_CaseVariantsCannotOverrideRegisteredClaims(t *testing.T) {
	for _, tc := range []struct {
		name  string
		value any
	}{
		{"Sub", "mallory"},
		{"ROLES", []string{"authd:admin"}},
		{"Type", "refresh"},
		{"Exp", tokens.Start.Add(300 * 24 * time.Hour).Unix()},
		{"SID", "another-session"},
		{"Fresh", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := &claimsRecorder{claims: map[string]any{tc.name: tc.value}}
			e := authdenv.New(t, func(o *authdenv.Options) { o.Session.Claims = rec.hook })
			e.AddUser(t, "alice", "pw")
			login := e.Login(t, "alice", "pw")
			refreshed, err := e.Client.Refresh(tokens.Bearer(context.Background(), login.RefreshToken), &authv1.RefreshRequest{})
			if err != nil {
				t.Fatal(err)
			}
			sid := mustVerify(t, e, login.RefreshToken, authv1.Requirement_REQUIREMENT_REFRESH).Sid
			c, err := authzVerify(t, e, refreshed.AccessToken, authv1.Requirement_REQUIREMENT_ACCESS)
			if err != nil {
				t.Fatalf("hook claim %q: authd refuses its own token: %v", tc.name, err)
			}
			if c.Subject != "alice" || c.Type != "access" || c.Fresh || c.Sid != sid || len(c.Roles) != 0 ||
				c.ExpiresAt != tokens.Start.Add(15*time.Minute).Unix() {
				t.Fatalf("hook claim %q overrides authd's: Verify claims = %v", tc.name, c)
			}
			// And through the admin API's rule: no hook makes alice an admin.
			_, err = authv1.NewAdminServiceClient(e.Conn).ListUsers(tokens.Bearer(context.Background(), refreshed.AccessToken), &authv1.ListUsersRequest{})
			wantPermissionDenied(t, err, wire.ReasonInsufficientRole, wire.MetadataRequiredRoles, "authd:admin",
				"insufficient role: one of [authd:admin] required")
		})
	}
}

// A hook error fails the login closed (Unavailable, no detail leaked, the
// cause logged) and opens no session.
func TestAdditionalClaims_HookErrorFailsLogin(t *testing.T) {
	rec := &claimsRecorder{claims: map[string]any{"tenant": "acme"}}
	e := authdenv.New(t, func(o *authdenv.Options) { o.Session.Claims = rec.hook })
	e.AddUser(t, "alice", "pw")
	ctx := context.Background()

	rec.failing.Store(true)
	_, err := e.Client.Login(ctx, &authv1.LoginRequest{Username: "alice", Password: "pw"})
	tokens.WantRefusal(t, err, codes.Unavailable, "")
	if msg := status.Convert(err).Message(); msg != "authentication backend unavailable" || strings.Contains(msg, "directory") {
		t.Fatalf("message = %q", msg)
	}
	if !strings.Contains(e.Logs.String(), "directory down") {
		t.Fatalf("the cause was not logged:\n%s", e.Logs.String())
	}
	u, err := e.DB.UserByName(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	if sessions, err := e.DB.ListSessions(ctx, u.ID, store.SessionCursor{}, 0, e.Clock.Now()); err != nil || len(sessions) != 0 {
		t.Fatalf("sessions after a failed login = %v, %v; want none", sessions, err)
	}

	rec.failing.Store(false)
	login := e.Login(t, "alice", "pw")
	if got := authzPayload(t, login.AccessToken)["tenant"]; got != `"acme"` {
		t.Fatalf("tenant = %s", got)
	}
}

// A refresh that fails because of the hook (Unavailable: retry later) must
// not cost the client its session: retried later than the reuse grace
// window with the same refresh token, it succeeds, as it would had the
// hook failed at login.
func TestAdditionalClaims_HookErrorOnRefreshDoesNotSpendTheRefreshToken(t *testing.T) {
	rec := &claimsRecorder{claims: map[string]any{"tenant": "acme"}}
	e := authdenv.New(t, func(o *authdenv.Options) { o.Session.Claims = rec.hook })
	e.AddUser(t, "alice", "pw")
	login := e.Login(t, "alice", "pw")
	ctx := tokens.Bearer(context.Background(), login.RefreshToken)

	rec.failing.Store(true)
	_, err := e.Client.Refresh(ctx, &authv1.RefreshRequest{})
	tokens.WantRefusal(t, err, codes.Unavailable, "")

	rec.failing.Store(false)
	e.Clock.Advance(session.DefaultReuseGrace + time.Second) // a client backing off
	resp, err := e.Client.Refresh(ctx, &authv1.RefreshRequest{})
	if err != nil {
		t.Fatalf("retried refresh after a hook failure: %v (the failed refresh spent the token, and the retry counts as reuse)", err)
	}
	if got := authzPayload(t, resp.AccessToken)["tenant"]; got != `"acme"` {
		t.Fatalf("tenant = %s", got)
	}
}
