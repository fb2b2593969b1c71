package service_test

import (
	"context"
	"encoding/base64"
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
	"github.com/authd-dev/authd/guard"
	"github.com/authd-dev/authd/internal/authdenv"
	"github.com/authd-dev/authd/password"
	"github.com/authd-dev/authd/revocation"
	"github.com/authd-dev/authd/wire"
)

// adminWorld is authd with one administrator, root, logged in.
type adminWorld struct {
	*authdenv.Env
	admin authv1.AdminServiceClient
	root  *authv1.LoginResponse
}

const rootPassword = "root password"

func newAdminWorld(t *testing.T, opts ...func(*authdenv.Options)) *adminWorld {
	t.Helper()
	e := authdenv.New(t, opts...)
	e.AddUser(t, "root", rootPassword)
	setStoreRoles(t, e, "root", "authd:admin")
	return &adminWorld{Env: e, admin: authv1.NewAdminServiceClient(e.Conn), root: e.Login(t, "root", rootPassword)}
}

// asRoot is a context carrying root's fresh access token.
func (w *adminWorld) asRoot() context.Context {
	return tokens.Bearer(context.Background(), w.root.AccessToken)
}

// addUser creates a user through the admin API.
func (w *adminWorld) addUser(t *testing.T, name, pw string, roles ...string) *authv1.User {
	t.Helper()
	resp, err := w.admin.CreateUser(w.asRoot(), &authv1.CreateUserRequest{Username: name, Password: pw, Roles: roles})
	if err != nil {
		t.Fatalf("CreateUser(%s): %v", name, err)
	}
	return resp.GetUser()
}

// addClient creates a service account through the admin API.
func (w *adminWorld) addClient(t *testing.T, name string, scopes ...string) *authv1.CreateClientResponse {
	t.Helper()
	resp, err := w.admin.CreateClient(w.asRoot(), &authv1.CreateClientRequest{Name: name, Scopes: scopes})
	if err != nil {
		t.Fatalf("CreateClient(%s): %v", name, err)
	}
	return resp
}

// userNames lists every user, one page of at most size at a time.
func (w *adminWorld) userNames(t *testing.T, size int32) []string {
	t.Helper()
	var names []string
	req := &authv1.ListUsersRequest{PageSize: size}
	for range 100 {
		resp, err := w.admin.ListUsers(w.asRoot(), req)
		if err != nil {
			t.Fatal(err)
		}
		if size > 0 && len(resp.Users) > int(size) {
			t.Fatalf("page of %d users, page_size %d", len(resp.Users), size)
		}
		for _, u := range resp.Users {
			names = append(names, u.Username)
		}
		if resp.NextPageToken == "" {
			return names
		}
		req.PageToken = resp.NextPageToken
	}
	t.Fatal("ListUsers never reached its last page")
	return nil
}

// sessionIDs lists the sids of a user's live sessions.
func (w *adminWorld) sessionIDs(t *testing.T, name string) []string {
	t.Helper()
	resp, err := w.admin.ListSessions(w.asRoot(), &authv1.ListSessionsRequest{Username: name})
	if err != nil {
		t.Fatal(err)
	}
	var sids []string
	for _, s := range resp.Sessions {
		sids = append(sids, s.Sid)
	}
	return sids
}

// sidOf is the session of a login.
func sidOf(t *testing.T, e *authdenv.Env, login *authv1.LoginResponse) string {
	t.Helper()
	return mustVerify(t, e, login.RefreshToken, authv1.Requirement_REQUIREMENT_REFRESH).Sid
}

// adminCall is one AdminService method called with harmless but valid
// arguments.
type adminCall struct {
	method string
	change bool // needs a fresh token
	call   func(ctx context.Context, c authv1.AdminServiceClient) error
}

var adminCalls = []adminCall{
	{"ListUsers", false, func(ctx context.Context, c authv1.AdminServiceClient) error {
		_, err := c.ListUsers(ctx, &authv1.ListUsersRequest{})
		return err
	}},
	{"CreateUser", true, func(ctx context.Context, c authv1.AdminServiceClient) error {
		_, err := c.CreateUser(ctx, &authv1.CreateUserRequest{Username: "mallory", Password: "long enough pw", Roles: []string{"authd:admin"}})
		return err
	}},
	{"DisableUser", true, func(ctx context.Context, c authv1.AdminServiceClient) error {
		_, err := c.DisableUser(ctx, &authv1.DisableUserRequest{Username: "root"})
		return err
	}},
	{"EnableUser", true, func(ctx context.Context, c authv1.AdminServiceClient) error {
		_, err := c.EnableUser(ctx, &authv1.EnableUserRequest{Username: "root"})
		return err
	}},
	{"SetRoles", true, func(ctx context.Context, c authv1.AdminServiceClient) error {
		_, err := c.SetRoles(ctx, &authv1.SetRolesRequest{Username: "root"})
		return err
	}},
	{"ListSessions", false, func(ctx context.Context, c authv1.AdminServiceClient) error {
		_, err := c.ListSessions(ctx, &authv1.ListSessionsRequest{Username: "root"})
		return err
	}},
	{"RevokeSession", true, func(ctx context.Context, c authv1.AdminServiceClient) error {
		_, err := c.RevokeSession(ctx, &authv1.RevokeSessionRequest{Sid: "no-such-session"})
		return err
	}},
	{"CreateClient", true, func(ctx context.Context, c authv1.AdminServiceClient) error {
		_, err := c.CreateClient(ctx, &authv1.CreateClientRequest{Name: "mallory", Scopes: []string{"orders:read"}})
		return err
	}},
	{"ListClients", false, func(ctx context.Context, c authv1.AdminServiceClient) error {
		_, err := c.ListClients(ctx, &authv1.ListClientsRequest{})
		return err
	}},
	{"DisableClient", true, func(ctx context.Context, c authv1.AdminServiceClient) error {
		_, err := c.DisableClient(ctx, &authv1.DisableClientRequest{Name: "reporter"})
		return err
	}},
	{"EnableClient", true, func(ctx context.Context, c authv1.AdminServiceClient) error {
		_, err := c.EnableClient(ctx, &authv1.EnableClientRequest{Name: "reporter"})
		return err
	}},
	{"RotateClientSecret", true, func(ctx context.Context, c authv1.AdminServiceClient) error {
		_, err := c.RotateClientSecret(ctx, &authv1.RotateClientSecretRequest{Name: "reporter"})
		return err
	}},
	{"ResetSecondFactors", true, func(ctx context.Context, c authv1.AdminServiceClient) error {
		_, err := c.ResetSecondFactors(ctx, &authv1.ResetSecondFactorsRequest{Username: "bob"})
		return err
	}},
}

// The table above covers every method of the service, so that a method
// added later is tested by the refusal tests below.
func TestAdmin_CallsCoverEveryMethod(t *testing.T) {
	var declared, covered []string
	for _, m := range authv1.AdminService_ServiceDesc.Methods {
		declared = append(declared, m.MethodName)
	}
	for _, c := range adminCalls {
		covered = append(covered, c.method)
	}
	slices.Sort(declared)
	slices.Sort(covered)
	if !slices.Equal(declared, covered) {
		t.Fatalf("AdminService methods %v, tested %v", declared, covered)
	}
}

// wantNothingChanged fails the test unless the refused calls of adminCalls
// left the accounts as newAdminWorld and the test set them up.
func (w *adminWorld) wantNothingChanged(t *testing.T, clientSecret string) {
	t.Helper()
	users, err := w.admin.ListUsers(w.asRoot(), &authv1.ListUsersRequest{})
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range users.Users {
		if u.Username == "mallory" || u.Disabled || (u.Username == "root" && !slices.Equal(u.Roles, []string{"authd:admin"})) {
			t.Fatalf("a refused call changed the users: %v", users.Users)
		}
	}
	clients, err := w.admin.ListClients(w.asRoot(), &authv1.ListClientsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if len(clients.Clients) != 1 || clients.Clients[0].Name != "reporter" || clients.Clients[0].Disabled {
		t.Fatalf("a refused call changed the clients: %v", clients.Clients)
	}
	id := clients.Clients[0].ClientId
	if _, err := w.Client.IssueClientToken(context.Background(), &authv1.IssueClientTokenRequest{ClientId: id, ClientSecret: clientSecret}); err != nil {
		t.Fatalf("a refused call rotated the client's secret: %v", err)
	}
	if sids := w.sessionIDs(t, "root"); !slices.Contains(sids, sidOf(t, w.Env, w.root)) {
		t.Fatalf("a refused call revoked root's session: %v", sids)
	}
}

// Without a token, every method is TOKEN_MISSING: the caller is not told
// about roles before it has authenticated.
func TestAdmin_NoTokenIsTokenMissing(t *testing.T) {
	w := newAdminWorld(t)
	secret := w.addClient(t, "reporter", "orders:read").ClientSecret
	for _, c := range adminCalls {
		t.Run(c.method, func(t *testing.T) {
			tokens.WantRefusal(t, c.call(context.Background(), w.admin), codes.Unauthenticated, wire.ReasonTokenMissing)
		})
	}
	w.wantNothingChanged(t, secret)
}

// A user without the role authd:admin, however fresh their token, is
// PermissionDenied INSUFFICIENT_ROLE naming the role, on every method;
// authentication comes first, so an expired token is still TOKEN_EXPIRED.
func TestAdmin_NonAdminIsInsufficientRole(t *testing.T) {
	w := newAdminWorld(t)
	secret := w.addClient(t, "reporter", "orders:read").ClientSecret
	w.addUser(t, "alice", "long enough pw", "admin", "support") // "admin" is not "authd:admin"
	w.addUser(t, "bob", "long enough pw")
	clientTok, err := w.Client.IssueClientToken(context.Background(), &authv1.IssueClientTokenRequest{
		ClientId: w.clientID(t, "reporter"), ClientSecret: secret,
	})
	if err != nil {
		t.Fatal(err)
	}
	callers := map[string]string{
		"other roles":    w.Login(t, "alice", "long enough pw").AccessToken,
		"no roles":       w.Login(t, "bob", "long enough pw").AccessToken,
		"service client": clientTok.AccessToken,
	}
	for who, tok := range callers {
		for _, c := range adminCalls {
			t.Run(who+"/"+c.method, func(t *testing.T) {
				if who == "service client" && c.change {
					// A client token is never fresh: refused before its roles are looked at.
					tokens.WantRefusal(t, c.call(tokens.Bearer(context.Background(), tok), w.admin),
						codes.Unauthenticated, wire.ReasonFreshTokenRequired)
					return
				}
				wantPermissionDenied(t, c.call(tokens.Bearer(context.Background(), tok), w.admin),
					wire.ReasonInsufficientRole, wire.MetadataRequiredRoles, "authd:admin",
					"insufficient role: one of [authd:admin] required")
			})
		}
	}
	w.wantNothingChanged(t, secret)

	alice := w.Login(t, "alice", "long enough pw")
	w.Clock.Advance(15 * time.Minute)
	_, err = w.admin.ListUsers(tokens.Bearer(context.Background(), alice.AccessToken), &authv1.ListUsersRequest{})
	tokens.WantRefusal(t, err, codes.Unauthenticated, wire.ReasonTokenExpired)
}

// An administrator's non-fresh token (from a refresh) may read, but every
// change needs a fresh one: a stolen refresh token does not give the admin
// API's changes.
func TestAdmin_ChangesNeedAFreshToken(t *testing.T) {
	w := newAdminWorld(t)
	secret := w.addClient(t, "reporter", "orders:read").ClientSecret
	refreshed, err := w.Client.Refresh(tokens.Bearer(context.Background(), w.root.RefreshToken), &authv1.RefreshRequest{})
	if err != nil {
		t.Fatal(err)
	}
	// Refresh rotated root's session, not ended it; w.root's access token
	// is still the fresh one of that session.
	stale := tokens.Bearer(context.Background(), refreshed.AccessToken)
	for _, c := range adminCalls {
		t.Run(c.method, func(t *testing.T) {
			err := c.call(stale, w.admin)
			if !c.change {
				if err != nil {
					t.Fatalf("a read with a non-fresh admin token: %v", err)
				}
				return
			}
			tokens.WantRefusal(t, err, codes.Unauthenticated, wire.ReasonFreshTokenRequired)
		})
	}
	w.wantNothingChanged(t, secret)
}

// CreateUser adds a user who can log in with the roles given; a taken
// name is AlreadyExists, bad input InvalidArgument, and neither creates
// anything. The change is logged with the administrator who made it.
func TestAdmin_CreateUser(t *testing.T) {
	w := newAdminWorld(t)
	w.Clock.Advance(time.Minute)
	u := w.addUser(t, "bob", "bob's pw", "billing", "support")
	now := w.Clock.Now().Unix()
	if u.Username != "bob" || !slices.Equal(u.Roles, []string{"billing", "support"}) || u.Disabled || u.CreatedAt != now || u.UpdatedAt != now {
		t.Fatalf("created user = %v", u)
	}
	login := w.Login(t, "bob", "bob's pw")
	if got := authzPayload(t, login.AccessToken)["roles"]; got != `["billing","support"]` {
		t.Fatalf("bob's roles claim = %s", got)
	}
	if logs := w.Logs.String(); !strings.Contains(logs, `msg="user created" user=bob roles="[billing support]"`) || !strings.Contains(logs, "admin=root") {
		t.Fatalf("no audit line for the new user:\n%s", logs)
	}

	_, err := w.admin.CreateUser(w.asRoot(), &authv1.CreateUserRequest{Username: "bob", Password: "another pw"})
	tokens.WantRefusal(t, err, codes.AlreadyExists, "")
	if msg := status.Convert(err).Message(); msg != `user "bob" already exists` {
		t.Fatalf("message = %q", msg)
	}
	w.Login(t, "bob", "bob's pw") // the password was not replaced

	for _, tc := range []struct {
		name string
		req  *authv1.CreateUserRequest
		msg  string
	}{
		{"empty username", &authv1.CreateUserRequest{Password: "long enough pw"}, "username is empty"},
		{"username with spaces around", &authv1.CreateUserRequest{Username: " carol", Password: "long enough pw"}, "username has leading or trailing spaces"},
		{"username with a control character", &authv1.CreateUserRequest{Username: "car\nol", Password: "long enough pw"}, "username has control characters"},
		{"username of invalid UTF-8", &authv1.CreateUserRequest{Username: "car\xffol", Password: "long enough pw"}, "username is not valid UTF-8"},
		{"username too long", &authv1.CreateUserRequest{Username: strings.Repeat("c", 257), Password: "long enough pw"}, "username is too long"},
		{"a service account's name", &authv1.CreateUserRequest{Username: "client:reporter", Password: "long enough pw"},
			`usernames starting with "client:" are kept for service accounts`},
		{"empty password", &authv1.CreateUserRequest{Username: "carol"}, "password: password is empty"},
		{"password too long", &authv1.CreateUserRequest{Username: "carol", Password: strings.Repeat("p", password.MaxLength+1)},
			"password: " + password.ErrTooLong.Error()},
		{"role with a capital", &authv1.CreateUserRequest{Username: "carol", Password: "long enough pw", Roles: []string{"Admin"}},
			`roles: name "Admin": only a-z, 0-9 and :._- are allowed`},
		{"role with a space", &authv1.CreateUserRequest{Username: "carol", Password: "long enough pw", Roles: []string{"authd:admin support"}},
			`roles: name "authd:admin support": only a-z, 0-9 and :._- are allowed`},
		{"empty role", &authv1.CreateUserRequest{Username: "carol", Password: "long enough pw", Roles: []string{""}},
			`roles: name "": want 1 to 64 bytes`},
		{"repeated role", &authv1.CreateUserRequest{Username: "carol", Password: "long enough pw", Roles: []string{"ops", "ops"}},
			`roles: name "ops" appears twice`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := w.admin.CreateUser(w.asRoot(), tc.req)
			tokens.WantRefusal(t, err, codes.InvalidArgument, "")
			if msg := status.Convert(err).Message(); msg != tc.msg {
				t.Fatalf("message = %q, want %q", msg, tc.msg)
			}
		})
	}
	if names := w.userNames(t, 0); !slices.Equal(names, []string{"bob", "root"}) {
		t.Fatalf("users = %v, want only bob and root", names)
	}
	if _, err := w.DB.UserByName(context.Background(), "client:reporter"); err == nil {
		t.Fatal("an account named client:reporter was created")
	}
}

// ListUsers pages through the users by name, leaving the service accounts
// out; a malformed page_token or a negative page_size is InvalidArgument.
func TestAdmin_ListUsersPages(t *testing.T) {
	w := newAdminWorld(t)
	for _, name := range []string{"dave", "alice", "carol", "bob"} {
		w.addUser(t, name, "long enough pw")
	}
	w.addClient(t, "billing")  // "client:billing" sorts between carol and dave
	w.addClient(t, "zz-batch") // and "client:zz-batch" too
	all := []string{"alice", "bob", "carol", "dave", "root"}
	for _, size := range []int32{1, 2, 4, 5, 0, 1000, 5000} {
		if names := w.userNames(t, size); !slices.Equal(names, all) {
			t.Fatalf("page_size %d: users %v, want %v", size, names, all)
		}
	}

	first, err := w.admin.ListUsers(w.asRoot(), &authv1.ListUsersRequest{PageSize: 2})
	if err != nil {
		t.Fatal(err)
	}
	if len(first.Users) != 2 || first.Users[0].Username != "alice" || first.NextPageToken == "" {
		t.Fatalf("first page = %v", first)
	}
	root := &authv1.User{Username: "root", Roles: []string{"authd:admin"}, CreatedAt: tokens.Start.Unix(), UpdatedAt: tokens.Start.Unix()}
	last, err := w.admin.ListUsers(w.asRoot(), &authv1.ListUsersRequest{PageSize: 10, PageToken: first.NextPageToken})
	if err != nil {
		t.Fatal(err)
	}
	if len(last.Users) != 3 || !proto.Equal(last.Users[2], root) || last.NextPageToken != "" {
		t.Fatalf("last page = %v, want carol, dave and %v", last, root)
	}

	for _, tc := range []struct {
		name string
		req  *authv1.ListUsersRequest
		msg  string
	}{
		{"page_token not base64url", &authv1.ListUsersRequest{PageToken: "!!!"}, "malformed page_token"},
		{"page_token of invalid UTF-8", &authv1.ListUsersRequest{PageToken: base64.RawURLEncoding.EncodeToString([]byte("\xff"))}, "malformed page_token"},
		{"page_token too long", &authv1.ListUsersRequest{PageToken: base64.RawURLEncoding.EncodeToString([]byte(strings.Repeat("a", 257)))}, "malformed page_token"},
		{"negative page_size", &authv1.ListUsersRequest{PageSize: -1}, "page_size must not be negative"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := w.admin.ListUsers(w.asRoot(), tc.req)
			tokens.WantRefusal(t, err, codes.InvalidArgument, "")
			if msg := status.Convert(err).Message(); msg != tc.msg {
				t.Fatalf("message = %q, want %q", msg, tc.msg)
			}
		})
	}
}

// DisableUser ends every live session of the user (their tokens are
// refused at once) and refuses their logins with the error a wrong
// password gets; EnableUser lets them log in again, but revives no token.
func TestAdmin_DisableAndEnableUser(t *testing.T) {
	w := newAdminWorld(t)
	w.addUser(t, "bob", "long enough pw")
	first, second, loggedOut := w.Login(t, "bob", "long enough pw"), w.Login(t, "bob", "long enough pw"), w.Login(t, "bob", "long enough pw")
	if _, err := w.Client.Logout(tokens.Bearer(context.Background(), loggedOut.AccessToken), &authv1.LogoutRequest{}); err != nil {
		t.Fatal(err)
	}

	resp, err := w.admin.DisableUser(w.asRoot(), &authv1.DisableUserRequest{Username: "bob"})
	if err != nil {
		t.Fatal(err)
	}
	if resp.RevokedSessions != 2 {
		t.Fatalf("revoked_sessions = %d, want 2 (the logged-out session was already revoked)", resp.RevokedSessions)
	}
	wantDead := func(login *authv1.LoginResponse) {
		t.Helper()
		_, err := authzVerify(t, w.Env, login.AccessToken, authv1.Requirement_REQUIREMENT_ACCESS)
		tokens.WantRefusal(t, err, codes.Unauthenticated, wire.ReasonTokenRevoked)
		_, err = w.Client.Refresh(tokens.Bearer(context.Background(), login.RefreshToken), &authv1.RefreshRequest{})
		tokens.WantRefusal(t, err, codes.Unauthenticated, wire.ReasonTokenRevoked)
	}
	wantDead(first)
	wantDead(second)
	_, err = w.Client.Login(context.Background(), &authv1.LoginRequest{Username: "bob", Password: "long enough pw"})
	tokens.WantRefusal(t, err, codes.Unauthenticated, wire.ReasonInvalidCredentials)
	if msg := status.Convert(err).Message(); msg != accounts.ErrInvalidCredentials.Error() {
		t.Fatalf("message = %q", msg)
	}
	users, err := w.admin.ListUsers(w.asRoot(), &authv1.ListUsersRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if u := users.Users[0]; u.Username != "bob" || !u.Disabled {
		t.Fatalf("listed %v, want bob disabled", u)
	}
	if sids := w.sessionIDs(t, "bob"); len(sids) != 0 {
		t.Fatalf("bob's live sessions = %v", sids)
	}

	if _, err := w.admin.EnableUser(w.asRoot(), &authv1.EnableUserRequest{Username: "bob"}); err != nil {
		t.Fatal(err)
	}
	again := w.Login(t, "bob", "long enough pw")
	mustVerify(t, w.Env, again.AccessToken, authv1.Requirement_REQUIREMENT_FRESH_ACCESS)
	wantDead(first)

	// Unknown users, and service accounts, are not users.
	w.addClient(t, "reporter")
	for _, name := range []string{"nobody", "client:reporter"} {
		_, err := w.admin.DisableUser(w.asRoot(), &authv1.DisableUserRequest{Username: name})
		tokens.WantRefusal(t, err, codes.NotFound, "")
		if msg := status.Convert(err).Message(); msg != `user "`+name+`" not found` {
			t.Fatalf("message = %q", msg)
		}
		_, err = w.admin.EnableUser(w.asRoot(), &authv1.EnableUserRequest{Username: name})
		tokens.WantRefusal(t, err, codes.NotFound, "")
	}
	if c := w.clients(t); c[0].Disabled {
		t.Fatal("DisableUser disabled a service account")
	}
}

// SetRoles replaces the roles (sorted), ends the user's sessions so no
// token outlives its roles, and the next login carries the new ones.
func TestAdmin_SetRoles(t *testing.T) {
	w := newAdminWorld(t)
	w.addUser(t, "bob", "long enough pw", "support")
	before := w.Login(t, "bob", "long enough pw")

	w.Clock.Advance(time.Minute)
	resp, err := w.admin.SetRoles(w.asRoot(), &authv1.SetRolesRequest{Username: "bob", Roles: []string{"ops", "audit"}})
	if err != nil {
		t.Fatal(err)
	}
	if u := resp.User; u.Username != "bob" || !slices.Equal(u.Roles, []string{"audit", "ops"}) || resp.RevokedSessions != 1 {
		t.Fatalf("SetRoles = %v", resp)
	}
	_, err = authzVerify(t, w.Env, before.AccessToken, authv1.Requirement_REQUIREMENT_ACCESS)
	tokens.WantRefusal(t, err, codes.Unauthenticated, wire.ReasonTokenRevoked)
	_, err = w.Client.Refresh(tokens.Bearer(context.Background(), before.RefreshToken), &authv1.RefreshRequest{})
	tokens.WantRefusal(t, err, codes.Unauthenticated, wire.ReasonTokenRevoked)
	after := w.Login(t, "bob", "long enough pw")
	if c := mustVerify(t, w.Env, after.AccessToken, authv1.Requirement_REQUIREMENT_ACCESS); !slices.Equal(c.Roles, []string{"audit", "ops"}) {
		t.Fatalf("roles after SetRoles = %v", c.Roles)
	}

	// Bad roles change nothing, not even the sessions.
	_, err = w.admin.SetRoles(w.asRoot(), &authv1.SetRolesRequest{Username: "bob", Roles: []string{"ops", "Root"}})
	tokens.WantRefusal(t, err, codes.InvalidArgument, "")
	if msg := status.Convert(err).Message(); msg != `roles: name "Root": only a-z, 0-9 and :._- are allowed` {
		t.Fatalf("message = %q", msg)
	}
	mustVerify(t, w.Env, after.AccessToken, authv1.Requirement_REQUIREMENT_ACCESS)

	// An empty set removes every role.
	resp, err = w.admin.SetRoles(w.asRoot(), &authv1.SetRolesRequest{Username: "bob"})
	if err != nil || len(resp.User.Roles) != 0 || resp.RevokedSessions != 1 {
		t.Fatalf("SetRoles(none) = %v, %v", resp, err)
	}
	wantClaimNames(t, "role-less access token", authzPayload(t, w.Login(t, "bob", "long enough pw").AccessToken), roleLessAccess)

	w.addClient(t, "reporter")
	for _, name := range []string{"nobody", "client:reporter"} {
		_, err := w.admin.SetRoles(w.asRoot(), &authv1.SetRolesRequest{Username: name, Roles: []string{"ops"}})
		tokens.WantRefusal(t, err, codes.NotFound, "")
		if msg := status.Convert(err).Message(); msg != `user "`+name+`" not found` {
			t.Fatalf("message = %q", msg)
		}
	}

	// An administrator who takes away their own role loses the API at once.
	if _, err := w.admin.SetRoles(w.asRoot(), &authv1.SetRolesRequest{Username: "root", Roles: []string{"ops"}}); err != nil {
		t.Fatal(err)
	}
	_, err = w.admin.ListUsers(w.asRoot(), &authv1.ListUsersRequest{})
	tokens.WantRefusal(t, err, codes.Unauthenticated, wire.ReasonTokenRevoked)
	_, err = w.admin.ListUsers(tokens.Bearer(context.Background(), w.Login(t, "root", rootPassword).AccessToken), &authv1.ListUsersRequest{})
	wantPermissionDenied(t, err, wire.ReasonInsufficientRole, wire.MetadataRequiredRoles, "authd:admin",
		"insufficient role: one of [authd:admin] required")
}

// ListSessions lists a user's live sessions newest first; RevokeSession
// ends exactly one of them.
func TestAdmin_ListAndRevokeSessions(t *testing.T) {
	w := newAdminWorld(t)
	w.addUser(t, "bob", "long enough pw")
	var logins []*authv1.LoginResponse
	var sids []string
	for range 3 {
		login := w.Login(t, "bob", "long enough pw")
		logins, sids = append(logins, login), append(sids, sidOf(t, w.Env, login))
		w.Clock.Advance(time.Minute)
	}
	resp, err := w.admin.ListSessions(w.asRoot(), &authv1.ListSessionsRequest{Username: "bob"})
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.Sessions) != 3 {
		t.Fatalf("sessions = %v", resp.Sessions)
	}
	for i, s := range resp.Sessions {
		n := 2 - i // newest first
		at := tokens.Start.Add(time.Duration(n) * time.Minute).Unix()
		want := &authv1.Session{Sid: sids[n], AuthTime: at, CreatedAt: at, ExpiresAt: at + int64(168*time.Hour/time.Second)}
		if !proto.Equal(s, want) {
			t.Fatalf("session %d = %v, want %v", i, s, want)
		}
	}

	if _, err := w.admin.RevokeSession(w.asRoot(), &authv1.RevokeSessionRequest{Sid: sids[1]}); err != nil {
		t.Fatal(err)
	}
	_, err = authzVerify(t, w.Env, logins[1].AccessToken, authv1.Requirement_REQUIREMENT_ACCESS)
	tokens.WantRefusal(t, err, codes.Unauthenticated, wire.ReasonTokenRevoked)
	_, err = w.Client.Refresh(tokens.Bearer(context.Background(), logins[1].RefreshToken), &authv1.RefreshRequest{})
	tokens.WantRefusal(t, err, codes.Unauthenticated, wire.ReasonTokenRevoked)
	for _, i := range []int{0, 2} {
		mustVerify(t, w.Env, logins[i].AccessToken, authv1.Requirement_REQUIREMENT_ACCESS)
	}
	if got := w.sessionIDs(t, "bob"); !slices.Equal(got, []string{sids[2], sids[0]}) {
		t.Fatalf("live sessions = %v, want %v", got, []string{sids[2], sids[0]})
	}

	_, err = w.admin.RevokeSession(w.asRoot(), &authv1.RevokeSessionRequest{Sid: "no-such-session"})
	tokens.WantRefusal(t, err, codes.NotFound, "")
	_, err = w.admin.RevokeSession(w.asRoot(), &authv1.RevokeSessionRequest{})
	tokens.WantRefusal(t, err, codes.InvalidArgument, "")
	if msg := status.Convert(err).Message(); msg != "sid is empty" {
		t.Fatalf("message = %q", msg)
	}
	_, err = w.admin.ListSessions(w.asRoot(), &authv1.ListSessionsRequest{Username: "nobody"})
	tokens.WantRefusal(t, err, codes.NotFound, "")
	if got := w.sessionIDs(t, "bob"); !slices.Equal(got, []string{sids[2], sids[0]}) {
		t.Fatalf("live sessions after refused calls = %v", got)
	}
}

// clientID returns the id of the service account name.
func (w *adminWorld) clientID(t *testing.T, name string) string {
	t.Helper()
	for _, c := range w.clients(t) {
		if c.Name == name {
			return c.ClientId
		}
	}
	t.Fatalf("no client %q", name)
	return ""
}

func (w *adminWorld) clients(t *testing.T) []*authv1.Client {
	t.Helper()
	resp, err := w.admin.ListClients(w.asRoot(), &authv1.ListClientsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	return resp.Clients
}

// issue asks authd for a client token.
func (w *adminWorld) issue(id, secret string, scopes ...string) (*authv1.IssueClientTokenResponse, error) {
	return w.Client.IssueClientToken(context.Background(), &authv1.IssueClientTokenRequest{ClientId: id, ClientSecret: secret, Scopes: scopes})
}

// CreateClient returns the secret once, ListClients never; disabling a
// client revokes its tokens and refuses new ones until it is enabled;
// rotating the secret refuses the old one and revokes the tokens issued
// with it.
func TestAdmin_Clients(t *testing.T) {
	w := newAdminWorld(t)
	w.Clock.Advance(time.Minute)
	created := w.addClient(t, "reporter", "reports:read", "orders:read")
	c := created.Client
	if c.Name != "reporter" || !strings.HasPrefix(c.ClientId, "authd-") || !slices.Equal(c.Scopes, []string{"orders:read", "reports:read"}) ||
		c.Disabled || c.CreatedAt != w.Clock.Now().Unix() {
		t.Fatalf("created client = %v", c)
	}
	if secret, err := base64.RawURLEncoding.Strict().DecodeString(created.ClientSecret); err != nil || len(secret) != 32 {
		t.Fatalf("client secret %q: %d bytes, %v; want 256 random bits", created.ClientSecret, len(secret), err)
	}
	other := w.addClient(t, "archiver")
	if other.ClientSecret == created.ClientSecret || other.Client.ClientId == c.ClientId {
		t.Fatal("two clients share a secret or an id")
	}
	if got := w.clients(t); len(got) != 2 || !proto.Equal(got[0], other.Client) || !proto.Equal(got[1], c) {
		t.Fatalf("ListClients = %v, want archiver then reporter", got)
	}
	if names := w.userNames(t, 0); !slices.Equal(names, []string{"root"}) {
		t.Fatalf("ListUsers = %v: service accounts are not users", names)
	}

	_, err := w.admin.CreateClient(w.asRoot(), &authv1.CreateClientRequest{Name: "reporter", Scopes: []string{"admin"}})
	tokens.WantRefusal(t, err, codes.AlreadyExists, "")
	if msg := status.Convert(err).Message(); msg != `client "reporter" already exists` {
		t.Fatalf("message = %q", msg)
	}
	for _, tc := range []struct {
		name string
		req  *authv1.CreateClientRequest
		msg  string
	}{
		{"name with a capital", &authv1.CreateClientRequest{Name: "Reporter"}, `client name: name "Reporter": only a-z, 0-9 and :._- are allowed`},
		{"empty name", &authv1.CreateClientRequest{}, `client name: name "": want 1 to 64 bytes`},
		{"bad scope", &authv1.CreateClientRequest{Name: "writer", Scopes: []string{"orders write"}}, `scopes: name "orders write": only a-z, 0-9 and :._- are allowed`},
		{"repeated scope", &authv1.CreateClientRequest{Name: "writer", Scopes: []string{"orders:write", "orders:write"}}, `scopes: name "orders:write" appears twice`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := w.admin.CreateClient(w.asRoot(), tc.req)
			tokens.WantRefusal(t, err, codes.InvalidArgument, "")
			if msg := status.Convert(err).Message(); msg != tc.msg {
				t.Fatalf("message = %q, want %q", msg, tc.msg)
			}
		})
	}
	if got := w.clients(t); len(got) != 2 {
		t.Fatalf("refused CreateClient calls created clients: %v", got)
	}

	// Tokens before disabling are revoked; none are issued while disabled.
	secret := created.ClientSecret
	var toks []string
	for range 2 {
		resp, err := w.issue(c.ClientId, secret)
		if err != nil {
			t.Fatal(err)
		}
		toks = append(toks, resp.AccessToken)
	}
	disabled, err := w.admin.DisableClient(w.asRoot(), &authv1.DisableClientRequest{Name: "reporter"})
	if err != nil || disabled.RevokedSessions != 2 {
		t.Fatalf("DisableClient = %v, %v; want 2 revoked", disabled, err)
	}
	for _, tok := range toks {
		_, err := authzVerify(t, w.Env, tok, authv1.Requirement_REQUIREMENT_ACCESS)
		tokens.WantRefusal(t, err, codes.Unauthenticated, wire.ReasonTokenRevoked)
	}
	_, err = w.issue(c.ClientId, secret)
	tokens.WantRefusal(t, err, codes.Unauthenticated, wire.ReasonInvalidCredentials)
	if got := w.clients(t); !got[1].Disabled || got[0].Disabled {
		t.Fatalf("ListClients after DisableClient = %v", got)
	}
	if _, err := w.admin.EnableClient(w.asRoot(), &authv1.EnableClientRequest{Name: "reporter"}); err != nil {
		t.Fatal(err)
	}
	fresh, err := w.issue(c.ClientId, secret)
	if err != nil {
		t.Fatal(err)
	}
	mustVerify(t, w.Env, fresh.AccessToken, authv1.Requirement_REQUIREMENT_ACCESS)

	// Rotation: the old secret is refused, the new one works, the tokens
	// issued with the old one are revoked.
	rotated, err := w.admin.RotateClientSecret(w.asRoot(), &authv1.RotateClientSecretRequest{Name: "reporter"})
	if err != nil {
		t.Fatal(err)
	}
	if rotated.RevokedSessions != 1 || rotated.ClientSecret == secret || len(rotated.ClientSecret) != len(secret) {
		t.Fatalf("RotateClientSecret = %v", rotated)
	}
	_, err = authzVerify(t, w.Env, fresh.AccessToken, authv1.Requirement_REQUIREMENT_ACCESS)
	tokens.WantRefusal(t, err, codes.Unauthenticated, wire.ReasonTokenRevoked)
	_, err = w.issue(c.ClientId, secret)
	tokens.WantRefusal(t, err, codes.Unauthenticated, wire.ReasonInvalidCredentials)
	if resp, err := w.issue(c.ClientId, rotated.ClientSecret); err != nil {
		t.Fatal(err)
	} else {
		mustVerify(t, w.Env, resp.AccessToken, authv1.Requirement_REQUIREMENT_ACCESS)
	}
	if _, err := w.issue(other.Client.ClientId, other.ClientSecret); err != nil {
		t.Fatalf("another client's secret stopped working: %v", err)
	}

	// Unknown clients, and users, are not clients.
	w.addUser(t, "bob", "long enough pw")
	for _, name := range []string{"nobody", "bob"} {
		want := `client "` + name + `" not found`
		_, err := w.admin.DisableClient(w.asRoot(), &authv1.DisableClientRequest{Name: name})
		tokens.WantRefusal(t, err, codes.NotFound, "")
		if msg := status.Convert(err).Message(); msg != want {
			t.Fatalf("DisableClient(%s): message = %q, want %q", name, msg, want)
		}
		_, err = w.admin.EnableClient(w.asRoot(), &authv1.EnableClientRequest{Name: name})
		tokens.WantRefusal(t, err, codes.NotFound, "")
		_, err = w.admin.RotateClientSecret(w.asRoot(), &authv1.RotateClientSecretRequest{Name: name})
		tokens.WantRefusal(t, err, codes.NotFound, "")
	}
	w.Login(t, "bob", "long enough pw")
}

// The revoked_sessions an administrator is told are the live sessions the
// change ended, the ones ListSessions listed just before: not sessions
// already past their cap, whose tokens no longer verify anyway.
func TestAdmin_RevokedCountsAreLiveSessions(t *testing.T) {
	w := newAdminWorld(t, func(o *authdenv.Options) { o.Session.SessionMax = time.Hour })
	w.addUser(t, "bob", "long enough pw")
	reporter := w.addClient(t, "reporter")
	w.Login(t, "bob", "long enough pw")
	if _, err := w.issue(reporter.Client.ClientId, reporter.ClientSecret); err != nil {
		t.Fatal(err)
	}
	w.Clock.Advance(2 * time.Hour) // bob's session and the client's token are over
	w.root = w.Login(t, "root", rootPassword)
	live := w.Login(t, "bob", "long enough pw")
	if _, err := w.issue(reporter.Client.ClientId, reporter.ClientSecret); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"bob", "client:reporter"} {
		if sids := w.sessionIDs(t, name); len(sids) != 1 {
			t.Fatalf("%s has live sessions %v, want 1", name, sids)
		}
	}

	disabled, err := w.admin.DisableUser(w.asRoot(), &authv1.DisableUserRequest{Username: "bob"})
	if err != nil {
		t.Fatal(err)
	}
	if disabled.RevokedSessions != 1 {
		t.Errorf("DisableUser: revoked_sessions = %d, want 1 (bob had one live session)", disabled.RevokedSessions)
	}
	_, err = authzVerify(t, w.Env, live.AccessToken, authv1.Requirement_REQUIREMENT_ACCESS)
	tokens.WantRefusal(t, err, codes.Unauthenticated, wire.ReasonTokenRevoked)

	client, err := w.admin.DisableClient(w.asRoot(), &authv1.DisableClientRequest{Name: "reporter"})
	if err != nil {
		t.Fatal(err)
	}
	if client.RevokedSessions != 1 {
		t.Errorf("DisableClient: revoked_sessions = %d, want 1 (one token was still valid)", client.RevokedSessions)
	}
}

// Every change that ends sessions is visible to consumers, and a change to
// what a user already is ends none: EnableUser on an enabled user and
// SetRoles with the roles it has leave its sessions live at authd and at a
// consumer polling authd; DisableUser ends them at both, records each as
// revoked (ListRevocations) and announces it (OnRevoke: the Redis feed).
func TestAdmin_NoOpChangesEndNothingAndEveryEndedSessionIsPublished(t *testing.T) {
	var announced []string
	w := newAdminWorld(t, func(o *authdenv.Options) {
		o.Session.OnRevoke = func(_ context.Context, sids ...string) {
			announced = append(announced, strings.Join(sids, ",")+"|")
		}
	})
	w.addUser(t, "alice", "alice's password", "support")
	alice := w.Login(t, "alice", "alice's password")
	sid := func() string {
		c, err := w.Verifier.Verify(bg, alice.AccessToken)
		if err != nil {
			t.Fatal(err)
		}
		return c.SessionID
	}()
	poller := revocation.NewPoller(w.Conn, revocation.Config{Clock: w.Clock})
	if err := poller.Poll(bg); err != nil {
		t.Fatal(err)
	}
	consumer := guard.New(w.Verifier, guard.Config{Revocations: poller, Clock: w.Clock})
	accepted := func(what string, want bool) {
		t.Helper()
		w.Clock.Advance(2 * time.Second) // past authd's cache of the session
		if err := poller.Poll(bg); err != nil {
			t.Fatal(err)
		}
		_, err := w.Client.Verify(bg, &authv1.VerifyRequest{Token: alice.AccessToken})
		if (err == nil) != want {
			t.Fatalf("%s: authd's Verify: %v, want accepted %v", what, err, want)
		}
		_, err = consumer.DecideRule(bg, guard.Rule{Requirement: guard.Access}, guard.Call{Authorization: []string{"Bearer " + alice.AccessToken}})
		if (err == nil) != want {
			t.Fatalf("%s: the consumer: %v, want accepted %v", what, err, want)
		}
	}
	accepted("before any change", true)
	if _, err := w.admin.EnableUser(w.asRoot(), &authv1.EnableUserRequest{Username: "alice"}); err != nil {
		t.Fatal(err)
	}
	accepted("after enabling an enabled user", true)
	resp, err := w.admin.SetRoles(w.asRoot(), &authv1.SetRolesRequest{Username: "alice", Roles: []string{"support"}})
	if err != nil || resp.GetRevokedSessions() != 0 {
		t.Fatalf("SetRoles with the same roles: %v, %v; want no session ended", resp, err)
	}
	accepted("after setting the same roles", true)
	if len(announced) != 0 {
		t.Fatalf("no-op changes announced revocations: %q", announced)
	}

	disabled, err := w.admin.DisableUser(w.asRoot(), &authv1.DisableUserRequest{Username: "alice"})
	if err != nil || disabled.GetRevokedSessions() != 1 {
		t.Fatalf("DisableUser: %v, %v; want 1 session ended", disabled, err)
	}
	if len(announced) != 1 {
		t.Fatalf("DisableUser announced %q, want one announcement", announced)
	}
	list, err := w.Client.ListRevocations(bg, &authv1.ListRevocationsRequest{})
	if err != nil || !slices.ContainsFunc(list.GetRevocations(), func(r *authv1.Revocation) bool { return r.GetSid() == sid }) {
		t.Fatalf("ListRevocations after DisableUser: %v, %v; want %s listed", list, err, sid)
	}
	accepted("after disabling", false)
	if _, err := w.admin.EnableUser(w.asRoot(), &authv1.EnableUserRequest{Username: "alice"}); err != nil {
		t.Fatal(err)
	}
	accepted("after enabling again", false)
}

// Usernames over the admin API follow RFC 8265: a name taken under its
// case-folded, normalised form is AlreadyExists, a non-conforming one
// InvalidArgument; a user created before (here straight in the store) with
// a name that no longer conforms still logs in with it, and any spelling
// of a conforming name logs in to the same account.
func TestAdmin_UsernamesFollowRFC8265AndOldNamesKeepWorking(t *testing.T) {
	w := newAdminWorld(t)
	w.addUser(t, "alice", "alice's password")
	for name, code := range map[string]codes.Code{
		"Alice": codes.AlreadyExists, "ａｌｉｃｅ": codes.AlreadyExists, "\u0430lice": codes.InvalidArgument,
		"bad name": codes.InvalidArgument, "a\u3164b": codes.InvalidArgument, "Client:x": codes.InvalidArgument,
	} {
		_, err := w.admin.CreateUser(w.asRoot(), &authv1.CreateUserRequest{Username: name, Password: "a password of some length"})
		if status.Code(err) != code {
			t.Errorf("CreateUser(%q): %v, want %v", name, err, code)
		}
	}
	w.AddUser(t, "old name", "old password") // created before names had to conform
	if _, err := w.Client.Login(bg, &authv1.LoginRequest{Username: "old name", Password: "old password"}); err != nil {
		t.Fatalf("a user whose name no longer conforms: %v", err)
	}
	resp, err := w.Client.Login(bg, &authv1.LoginRequest{Username: "ALICE", Password: "alice's password"})
	if err != nil {
		t.Fatal(err)
	}
	if c, err := w.Verifier.Verify(bg, resp.AccessToken); err != nil || c.Subject != "alice" {
		t.Fatalf("login as ALICE: sub %q, %v; want alice", c.Subject, err)
	}
	if _, err := w.admin.DisableUser(w.asRoot(), &authv1.DisableUserRequest{Username: "Alice"}); err != nil {
		t.Fatalf("DisableUser by another spelling: %v", err)
	}
	if _, err := w.Client.Login(bg, &authv1.LoginRequest{Username: "alice", Password: "alice's password"}); status.Code(err) != codes.Unauthenticated {
		t.Fatalf("login after DisableUser(Alice): %v, want refused", err)
	}
}

// A user holds at most MaxSessions live sessions: a login past the bound
// revokes the oldest, which authd and a consumer refuse from then on and
// ListRevocations lists; ListSessions pages through the rest, newest
// first, and refuses a malformed page token.
func TestAdmin_SessionsPerUserBoundedAndListedInPages(t *testing.T) {
	const bound = 4
	w := newAdminWorld(t, func(o *authdenv.Options) { o.Session.MaxSessions = bound })
	w.addUser(t, "bob", "long enough pw")
	poller := revocation.NewPoller(w.Conn, revocation.Config{Clock: w.Clock})
	if err := poller.Poll(bg); err != nil {
		t.Fatal(err)
	}
	consumer := guard.New(w.Verifier, guard.Config{Revocations: poller, Clock: w.Clock})
	var logins []*authv1.LoginResponse
	var sids []string
	for i := range bound + 2 {
		login := w.Login(t, "bob", "long enough pw")
		logins, sids = append(logins, login), append(sids, sidOf(t, w.Env, login))
		if i == 0 { // the consumer meets the first session while it is live
			if _, err := consumer.DecideRule(bg, guard.Rule{Requirement: guard.Access}, guard.Call{Authorization: []string{"Bearer " + login.AccessToken}}); err != nil {
				t.Fatal(err)
			}
		}
		if i%2 == 1 {
			w.Clock.Advance(time.Second) // two logins a second: ties broken by sid
		}
	}
	// The two oldest were revoked by the two logins past the bound.
	for i, login := range logins {
		_, err := authzVerify(t, w.Env, login.AccessToken, authv1.Requirement_REQUIREMENT_ACCESS)
		if i < 2 {
			tokens.WantRefusal(t, err, codes.Unauthenticated, wire.ReasonTokenRevoked)
		} else if err != nil {
			t.Fatalf("login %d: %v", i, err)
		}
	}
	list, err := w.Client.ListRevocations(bg, &authv1.ListRevocationsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	var listed []string
	for _, r := range list.GetRevocations() {
		listed = append(listed, r.GetSid())
	}
	if !slices.Contains(listed, sids[0]) || !slices.Contains(listed, sids[1]) {
		t.Fatalf("ListRevocations = %v, want the evicted %v", listed, sids[:2])
	}
	if err := poller.Poll(bg); err != nil {
		t.Fatal(err)
	}
	_, err = consumer.DecideRule(bg, guard.Rule{Requirement: guard.Access}, guard.Call{Authorization: []string{"Bearer " + logins[0].AccessToken}})
	tokens.WantRefusal(t, wire.StatusError(err), codes.Unauthenticated, wire.ReasonTokenRevoked)

	// Pages of 3 over the 4 live sessions: 3, then 1, newest first.
	all := w.sessionIDs(t, "bob")
	var paged []string
	req := &authv1.ListSessionsRequest{Username: "bob", PageSize: 3}
	for range 10 {
		resp, err := w.admin.ListSessions(w.asRoot(), req)
		if err != nil {
			t.Fatal(err)
		}
		if len(resp.Sessions) > 3 {
			t.Fatalf("a page of %d, page_size 3", len(resp.Sessions))
		}
		for _, s := range resp.Sessions {
			paged = append(paged, s.Sid)
		}
		if resp.NextPageToken == "" {
			break
		}
		req.PageToken = resp.NextPageToken
	}
	if len(all) != bound || !slices.Equal(paged, all) {
		t.Fatalf("paged %v, all at once %v; want the same %d", paged, all, bound)
	}
	for _, s := range sids[2:] {
		if !slices.Contains(all, s) {
			t.Fatalf("live sessions %v lack %s", all, s)
		}
	}
	for _, bad := range []*authv1.ListSessionsRequest{{Username: "bob", PageToken: "!!"}, {Username: "bob", PageSize: -1}} {
		_, err := w.admin.ListSessions(w.asRoot(), bad)
		tokens.WantRefusal(t, err, codes.InvalidArgument, "")
	}
}
