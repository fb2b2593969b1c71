package accounts_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"sync"
	"testing"

	"google.golang.org/grpc/codes"

	"github.com/authd-dev/authd/accounts"
	"github.com/authd-dev/authd/authdtest/tokens"
	"github.com/authd-dev/authd/clock"
	"github.com/authd-dev/authd/password"
	"github.com/authd-dev/authd/store"
	"github.com/authd-dev/authd/store/sqlite"
	"github.com/authd-dev/authd/wire"
)

const (
	alicePW = "correct horse battery"
	addr    = "192.0.2.1"
)

// revokeUserCall is one call of Sessions.RevokeUser.
type revokeUserCall struct {
	UserID int64
	Except string
}

// fakeSessions records the sessions the Manager ends. Revoke knows the
// sids in live; RevokeUser reports ended sessions.
type fakeSessions struct {
	ended int // what RevokeUser returns

	mu        sync.Mutex
	live      map[string]bool
	revoked   []string
	userCalls []revokeUserCall
}

func (f *fakeSessions) Revoke(_ context.Context, sid string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.live[sid] {
		return fmt.Errorf("session: %w", store.ErrNotFound)
	}
	f.revoked = append(f.revoked, sid)
	return nil
}

func (f *fakeSessions) RevokeUser(_ context.Context, userID int64, except string) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.userCalls = append(f.userCalls, revokeUserCall{userID, except})
	return f.ended, nil
}

// calls returns the RevokeUser calls so far and forgets them.
func (f *fakeSessions) calls() []revokeUserCall {
	f.mu.Lock()
	defer f.mu.Unlock()
	c := f.userCalls
	f.userCalls = nil
	return c
}

type world struct {
	m        *accounts.Manager
	sessions *fakeSessions
	clock    *clock.Fake
}

// newWorld returns a Manager over a new SQLite database, hashing cheaply,
// on a fake clock, ending sessions through a fake.
func newWorld(t *testing.T, cfg accounts.Config) *world {
	t.Helper()
	st, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "authd.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	hasher, err := password.NewHasher(tokens.CheapParams, 4)
	if err != nil {
		t.Fatal(err)
	}
	w := &world{sessions: &fakeSessions{ended: 2, live: map[string]bool{}}, clock: clock.NewFake(tokens.Start)}
	cfg.Sessions, cfg.Clock = w.sessions, w.clock
	w.m = accounts.New(st, hasher, cfg)
	return w
}

func (w *world) createUser(t *testing.T, name string, roles ...string) store.User {
	t.Helper()
	u, err := w.m.CreateUser(t.Context(), name, alicePW, roles)
	if err != nil {
		t.Fatalf("CreateUser(%s): %v", name, err)
	}
	return u
}

// wantCode fails the test unless err is a refusal with code.
func wantCode(t *testing.T, err error, code codes.Code) {
	t.Helper()
	var e *wire.Error
	if !errors.As(err, &e) || e.Code != code {
		t.Fatalf("err = %v; want a *wire.Error with code %v", err, code)
	}
}

func wantCalls(t *testing.T, got []revokeUserCall, want ...revokeUserCall) {
	t.Helper()
	if !slices.Equal(got, want) {
		t.Fatalf("RevokeUser calls = %+v; want %+v", got, want)
	}
}

func TestManager_CreateUserValidatesItsInput(t *testing.T) {
	w := newWorld(t, accounts.Config{})
	for _, tc := range []struct {
		name, user, pw string
		roles          []string
	}{
		{"empty name", "", alicePW, nil},
		{"name with surrounding spaces", " alice", alicePW, nil},
		{"name with a control character", "al\x00ice", alicePW, nil},
		{"name of a service account", accounts.ClientPrefix + "billing", alicePW, nil},
		{"short password", "alice", "short", nil},
		{"common password", "alice", "iloveyou", nil},
		{"invalid role", "alice", alicePW, []string{"Not A Role"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := w.m.CreateUser(t.Context(), tc.user, tc.pw, tc.roles)
			wantCode(t, err, codes.InvalidArgument)
		})
	}
	if _, err := w.m.User(t.Context(), "alice"); !errors.Is(err, accounts.ErrNotFound) {
		t.Fatalf("refused creations left a user behind: User = %v", err)
	}
}

func TestManager_CreateUserStoresSortedRolesAndRefusesADuplicate(t *testing.T) {
	w := newWorld(t, accounts.Config{})
	u := w.createUser(t, "alice", "support", "admin")
	if !slices.Equal(u.Roles, []string{"admin", "support"}) {
		t.Fatalf("CreateUser roles = %v; want [admin support]", u.Roles)
	}
	got, err := w.m.User(t.Context(), "alice")
	if err != nil || got.ID != u.ID || !slices.Equal(got.Roles, u.Roles) {
		t.Fatalf("User = %+v, %v; want %+v", got, err, u)
	}
	_, err = w.m.CreateUser(t.Context(), "alice", "another good password", nil)
	if !errors.Is(err, accounts.ErrExists) {
		t.Fatalf("second CreateUser(alice) = %v; want ErrExists", err)
	}
	wantCode(t, err, codes.AlreadyExists)
	if _, err := w.m.Authenticate(t.Context(), accounts.Person, "alice", alicePW, addr); err != nil {
		t.Fatalf("the duplicate replaced the first password: %v", err)
	}
}

func TestManager_SetPasswordEndsEverySession(t *testing.T) {
	w := newWorld(t, accounts.Config{})
	u := w.createUser(t, "alice")
	n, err := w.m.SetPassword(t.Context(), "alice", "a brand new password")
	if err != nil || n != w.sessions.ended {
		t.Fatalf("SetPassword = %d, %v; want %d, nil", n, err, w.sessions.ended)
	}
	wantCalls(t, w.sessions.calls(), revokeUserCall{u.ID, ""})
	if _, err := w.m.Authenticate(t.Context(), accounts.Person, "alice", alicePW, addr); !errors.Is(err, accounts.ErrInvalidCredentials) {
		t.Fatalf("old password after SetPassword: %v; want ErrInvalidCredentials", err)
	}
	if _, err := w.m.Authenticate(t.Context(), accounts.Person, "alice", "a brand new password", addr); err != nil {
		t.Fatalf("new password: %v", err)
	}

	_, err = w.m.SetPassword(t.Context(), "alice", "short")
	wantCode(t, err, codes.InvalidArgument)
	if _, err := w.m.SetPassword(t.Context(), "bob", "a brand new password"); !errors.Is(err, accounts.ErrNotFound) {
		t.Fatalf("SetPassword of an unknown user = %v; want ErrNotFound", err)
	}
	wantCalls(t, w.sessions.calls()) // refusals end no session
}

func TestManager_SetDisabledEndsSessionsAndRefusesLogins(t *testing.T) {
	w := newWorld(t, accounts.Config{})
	u := w.createUser(t, "alice")
	n, err := w.m.SetDisabled(t.Context(), "alice", true)
	if err != nil || n != w.sessions.ended {
		t.Fatalf("SetDisabled(true) = %d, %v; want %d, nil", n, err, w.sessions.ended)
	}
	wantCalls(t, w.sessions.calls(), revokeUserCall{u.ID, ""})
	if _, err := w.m.Authenticate(t.Context(), accounts.Person, "alice", alicePW, addr); !errors.Is(err, accounts.ErrInvalidCredentials) {
		t.Fatalf("disabled user logs in: %v; want ErrInvalidCredentials", err)
	}

	// Enabling ends nothing of its own; it has whatever an earlier change
	// ended recorded (the store's RevokeUserSessions: here nothing).
	w.sessions.ended = 0
	n, err = w.m.SetDisabled(t.Context(), "alice", false)
	if err != nil || n != 0 {
		t.Fatalf("SetDisabled(false) = %d, %v; want 0, nil", n, err)
	}
	wantCalls(t, w.sessions.calls(), revokeUserCall{u.ID, ""})
	if _, err := w.m.Authenticate(t.Context(), accounts.Person, "alice", alicePW, addr); err != nil {
		t.Fatalf("enabled again: %v", err)
	}
	if _, err := w.m.SetDisabled(t.Context(), "bob", true); !errors.Is(err, accounts.ErrNotFound) {
		t.Fatalf("SetDisabled of an unknown user = %v; want ErrNotFound", err)
	}
}

func TestManager_SetRolesReplacesRolesAndEndsSessions(t *testing.T) {
	w := newWorld(t, accounts.Config{})
	u := w.createUser(t, "alice", "admin")
	got, n, err := w.m.SetRoles(t.Context(), "alice", []string{"support", "billing"})
	if err != nil || n != w.sessions.ended || !slices.Equal(got.Roles, []string{"billing", "support"}) {
		t.Fatalf("SetRoles = %v, %d, %v; want [billing support], %d, nil", got.Roles, n, err, w.sessions.ended)
	}
	wantCalls(t, w.sessions.calls(), revokeUserCall{u.ID, ""})
	if stored, _ := w.m.User(t.Context(), "alice"); !slices.Equal(stored.Roles, []string{"billing", "support"}) {
		t.Fatalf("stored roles = %v", stored.Roles)
	}

	_, _, err = w.m.SetRoles(t.Context(), "alice", []string{"Not A Role"})
	wantCode(t, err, codes.InvalidArgument)
	if _, _, err := w.m.SetRoles(t.Context(), "bob", nil); !errors.Is(err, accounts.ErrNotFound) {
		t.Fatalf("SetRoles of an unknown user = %v; want ErrNotFound", err)
	}
	wantCalls(t, w.sessions.calls())
}

func TestManager_ChangeRolesEndsSessionsOnlyWhenTheRolesChange(t *testing.T) {
	for _, tc := range []struct {
		name        string
		add, remove []string
		want        []string
		ends        bool
	}{
		{"adds a role", []string{"billing"}, nil, []string{"admin", "billing", "support"}, true},
		{"removes a role", nil, []string{"admin"}, []string{"support"}, true},
		{"adds and removes", []string{"billing"}, []string{"support"}, []string{"admin", "billing"}, true},
		{"adds a role the user has", []string{"admin"}, nil, []string{"admin", "support"}, false},
		{"removes and adds back the same role", []string{"admin"}, []string{"admin"}, []string{"admin", "support"}, false},
		{"changes nothing", nil, nil, []string{"admin", "support"}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld(t, accounts.Config{})
			u := w.createUser(t, "alice", "admin", "support")
			got, n, err := w.m.ChangeRoles(t.Context(), "alice", tc.add, tc.remove)
			if err != nil || !slices.Equal(got.Roles, tc.want) {
				t.Fatalf("ChangeRoles = %v, %v; want %v", got.Roles, err, tc.want)
			}
			if stored, _ := w.m.User(t.Context(), "alice"); !slices.Equal(stored.Roles, tc.want) {
				t.Fatalf("stored roles = %v; want %v", stored.Roles, tc.want)
			}
			if tc.ends {
				if n != w.sessions.ended {
					t.Fatalf("ChangeRoles ended %d sessions; want %d", n, w.sessions.ended)
				}
				wantCalls(t, w.sessions.calls(), revokeUserCall{u.ID, ""})
			} else {
				if n != 0 {
					t.Fatalf("a no-op ChangeRoles ended %d sessions", n)
				}
				wantCalls(t, w.sessions.calls())
			}
		})
	}
}

func TestManager_ChangeRolesRefusesToRemoveARoleTheUserLacks(t *testing.T) {
	w := newWorld(t, accounts.Config{})
	w.createUser(t, "alice", "admin")
	_, _, err := w.m.ChangeRoles(t.Context(), "alice", []string{"billing"}, []string{"support"})
	wantCode(t, err, codes.InvalidArgument)
	if stored, _ := w.m.User(t.Context(), "alice"); !slices.Equal(stored.Roles, []string{"admin"}) {
		t.Fatalf("a refused ChangeRoles changed the roles to %v", stored.Roles)
	}
	wantCalls(t, w.sessions.calls())
}

func TestManager_ChangePasswordKeepsTheAskingSession(t *testing.T) {
	w := newWorld(t, accounts.Config{})
	u := w.createUser(t, "alice")

	_, err := w.m.ChangePassword(t.Context(), "alice", "not the password", "a brand new password", addr, "s-keep")
	if !errors.Is(err, accounts.ErrInvalidCredentials) {
		t.Fatalf("ChangePassword with a wrong old password = %v; want ErrInvalidCredentials", err)
	}
	wantCalls(t, w.sessions.calls())
	if _, err := w.m.Authenticate(t.Context(), accounts.Person, "alice", alicePW, addr); err != nil {
		t.Fatalf("a refused ChangePassword changed the password: %v", err)
	}

	n, err := w.m.ChangePassword(t.Context(), "alice", alicePW, "a brand new password", addr, "s-keep")
	if err != nil || n != w.sessions.ended {
		t.Fatalf("ChangePassword = %d, %v; want %d, nil", n, err, w.sessions.ended)
	}
	wantCalls(t, w.sessions.calls(), revokeUserCall{u.ID, "s-keep"})
	if _, err := w.m.Authenticate(t.Context(), accounts.Person, "alice", "a brand new password", addr); err != nil {
		t.Fatalf("new password: %v", err)
	}
	if _, err := w.m.Authenticate(t.Context(), accounts.Person, "alice", alicePW, addr); !errors.Is(err, accounts.ErrInvalidCredentials) {
		t.Fatalf("old password after ChangePassword: %v; want ErrInvalidCredentials", err)
	}
}

func TestManager_Authenticate(t *testing.T) {
	w := newWorld(t, accounts.Config{Unthrottled: true})
	alice := w.createUser(t, "alice")
	w.createUser(t, "carol")
	if _, err := w.m.SetDisabled(t.Context(), "carol", true); err != nil {
		t.Fatal(err)
	}
	billing, secret, err := w.m.CreateClient(t.Context(), "billing", []string{"orders:read"})
	if err != nil {
		t.Fatal(err)
	}
	reports, reportsSecret, err := w.m.CreateClient(t.Context(), "reports", nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.m.SetClientDisabled(t.Context(), "reports", true); err != nil {
		t.Fatal(err)
	}

	for _, tc := range []struct {
		name         string
		kind         accounts.Kind
		user, secret string
		want         int64 // the account's id; 0: ErrInvalidCredentials
	}{
		{"person", accounts.Person, "alice", alicePW, alice.ID},
		{"service account", accounts.Service, billing.ClientID, secret, billing.ID},
		{"unknown user", accounts.Person, "bob", alicePW, 0},
		{"wrong password", accounts.Person, "alice", "not the password", 0},
		{"disabled user", accounts.Person, "carol", alicePW, 0},
		{"unknown client id", accounts.Service, "authd-unknown", secret, 0},
		{"wrong secret", accounts.Service, billing.ClientID, secret + "x", 0},
		{"disabled service account", accounts.Service, reports.ClientID, reportsSecret, 0},
		{"service account as a person, by name", accounts.Person, billing.Name, secret, 0},
		{"service account as a person, by client id", accounts.Person, billing.ClientID, secret, 0},
		{"person as a service account", accounts.Service, "alice", alicePW, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			u, err := w.m.Authenticate(t.Context(), tc.kind, tc.user, tc.secret, addr)
			if tc.want == 0 {
				if !errors.Is(err, accounts.ErrInvalidCredentials) {
					t.Fatalf("Authenticate = %+v, %v; want ErrInvalidCredentials", u, err)
				}
				return
			}
			if err != nil || u.ID != tc.want {
				t.Fatalf("Authenticate = %+v, %v; want account %d", u, err, tc.want)
			}
		})
	}
}

func TestManager_AuthenticateRefusesMalformedCredentials(t *testing.T) {
	w := newWorld(t, accounts.Config{Unthrottled: true})
	for _, tc := range []struct {
		name         string
		kind         accounts.Kind
		user, secret string
	}{
		{"empty username", accounts.Person, "", alicePW},
		{"empty password", accounts.Person, "alice", ""},
		{"empty client id", accounts.Service, "", "secret"},
		{"empty secret", accounts.Service, "authd-x", ""},
		{"invalid UTF-8 password", accounts.Person, "alice", "bad \xff"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := w.m.Authenticate(t.Context(), tc.kind, tc.user, tc.secret, addr)
			wantCode(t, err, codes.InvalidArgument)
		})
	}
}

// After the policy's free failures from one address, the next attempt is
// refused unchecked (even with the right password) with a delay, and
// checked again once the delay has passed.
func TestManager_AuthenticateThrottlesRepeatedFailures(t *testing.T) {
	w := newWorld(t, accounts.Config{})
	w.createUser(t, "alice")
	ctx := t.Context()
	free := accounts.DefaultThrottlePolicy.AccountAddress.Free
	for i := range free {
		if _, err := w.m.Authenticate(ctx, accounts.Person, "alice", "not the password", addr); !errors.Is(err, accounts.ErrInvalidCredentials) {
			t.Fatalf("failure %d: %v; want ErrInvalidCredentials", i+1, err)
		}
	}
	_, err := w.m.Authenticate(ctx, accounts.Person, "alice", alicePW, addr)
	if !errors.Is(err, accounts.ErrThrottled) {
		t.Fatalf("attempt %d from the same address: %v; want ErrThrottled", free+1, err)
	}
	var refusal *wire.Error
	if !errors.As(err, &refusal) || refusal.RetryDelay <= 0 {
		t.Fatalf("throttled refusal %#v has no RetryDelay", err)
	}
	wantCode(t, err, codes.ResourceExhausted)

	if _, err := w.m.Authenticate(ctx, accounts.Person, "alice", alicePW, "198.51.100.7"); err != nil {
		t.Fatalf("another address is throttled too: %v", err)
	}
	w.clock.Advance(refusal.RetryDelay)
	if _, err := w.m.Authenticate(ctx, accounts.Person, "alice", alicePW, addr); err != nil {
		t.Fatalf("after the RetryDelay: %v", err)
	}
}

func TestManager_CreateClient(t *testing.T) {
	w := newWorld(t, accounts.Config{})
	c, secret, err := w.m.CreateClient(t.Context(), "billing", []string{"orders:write", "orders:read"})
	if err != nil {
		t.Fatal(err)
	}
	if accounts.ClientName(c) != "billing" || c.ClientID == "" || secret == "" || !slices.Equal(c.Scopes, []string{"orders:read", "orders:write"}) {
		t.Fatalf("CreateClient = %+v, %q", c, secret)
	}
	if got, err := w.m.Client(t.Context(), "billing"); err != nil || got.ID != c.ID {
		t.Fatalf("Client(billing) = %+v, %v", got, err)
	}
	if _, _, err := w.m.CreateClient(t.Context(), "billing", nil); !errors.Is(err, accounts.ErrExists) {
		t.Fatalf("second CreateClient(billing) = %v; want ErrExists", err)
	}
	for _, name := range []string{"", "Billing", accounts.ClientPrefix + "billing"} {
		_, _, err := w.m.CreateClient(t.Context(), name, nil)
		wantCode(t, err, codes.InvalidArgument)
	}
	_, _, err = w.m.CreateClient(t.Context(), "reports", []string{"Not A Scope"})
	wantCode(t, err, codes.InvalidArgument)
}

func TestManager_RotateClientSecretRetiresTheOldSecret(t *testing.T) {
	w := newWorld(t, accounts.Config{Unthrottled: true})
	c, old, err := w.m.CreateClient(t.Context(), "billing", nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.m.Authenticate(t.Context(), accounts.Service, c.ClientID, old, addr); err != nil {
		t.Fatalf("the first secret: %v", err)
	}
	secret, n, err := w.m.RotateClientSecret(t.Context(), "billing")
	if err != nil || n != w.sessions.ended || secret == "" || secret == old {
		t.Fatalf("RotateClientSecret = %q, %d, %v", secret, n, err)
	}
	wantCalls(t, w.sessions.calls(), revokeUserCall{c.ID, ""})
	if _, err := w.m.Authenticate(t.Context(), accounts.Service, c.ClientID, old, addr); !errors.Is(err, accounts.ErrInvalidCredentials) {
		t.Fatalf("the old secret after rotation: %v; want ErrInvalidCredentials", err)
	}
	if u, err := w.m.Authenticate(t.Context(), accounts.Service, c.ClientID, secret, addr); err != nil || u.ID != c.ID {
		t.Fatalf("the new secret: %+v, %v", u, err)
	}
	if _, _, err := w.m.RotateClientSecret(t.Context(), "reports"); !errors.Is(err, accounts.ErrNotFound) {
		t.Fatalf("RotateClientSecret of an unknown client = %v; want ErrNotFound", err)
	}
}

func TestManager_RevokeSession(t *testing.T) {
	w := newWorld(t, accounts.Config{})
	w.sessions.live["s1"] = true
	if err := w.m.RevokeSession(t.Context(), "s1"); err != nil {
		t.Fatalf("RevokeSession(s1): %v", err)
	}
	if !slices.Equal(w.sessions.revoked, []string{"s1"}) {
		t.Fatalf("sessions revoked = %v; want [s1]", w.sessions.revoked)
	}
	err := w.m.RevokeSession(t.Context(), "unknown")
	if !errors.Is(err, accounts.ErrNotFound) {
		t.Fatalf("RevokeSession of an unknown sid = %v; want ErrNotFound", err)
	}
	wantCode(t, err, codes.NotFound)
}

// Without Config.Sessions, the Manager ends sessions in the store itself.
func TestManager_RevokeSessionOfAnUnknownSidInTheStore(t *testing.T) {
	st, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "authd.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	hasher, err := password.NewHasher(tokens.CheapParams, 1)
	if err != nil {
		t.Fatal(err)
	}
	m := accounts.New(st, hasher, accounts.Config{Clock: clock.NewFake(tokens.Start)})
	if err := m.RevokeSession(t.Context(), "unknown"); !errors.Is(err, accounts.ErrNotFound) {
		t.Fatalf("RevokeSession of an unknown sid = %v; want ErrNotFound", err)
	}
}

// New usernames follow RFC 8265's UsernameCaseMapped profile and are
// unique under their case-folded, normalised form: Alice beside alice, one
// name in NFC and NFD, a fullwidth spelling, are one name; a name mixing
// Cyrillic into Latin, a filler such as U+3164, a space, and the reserved
// prefix in any case or width are refused.
func TestManager_NewUsernamesFollowRFC8265(t *testing.T) {
	w := newWorld(t, accounts.Config{})
	for _, name := range []string{"alice", "José", "Zoë.O'Brien", "user@example.com", "日本語", "Алиса", "山田たろう", "bob_2"} {
		if _, err := w.m.CreateUser(t.Context(), name, alicePW, nil); err != nil {
			t.Errorf("CreateUser(%q): %v", name, err)
		}
	}
	for name, code := range map[string]codes.Code{
		"Alice":                           codes.AlreadyExists, // case
		"ALICE":                           codes.AlreadyExists,
		"ａｌｉｃｅ":                           codes.AlreadyExists, // fullwidth
		"Jose\u0301":                      codes.AlreadyExists, // NFD of José
		"JOSÉ":                            codes.AlreadyExists,
		"алиса":                           codes.AlreadyExists,   // Cyrillic, case
		"\u0430lice":                      codes.InvalidArgument, // Cyrillic а among Latin letters
		"a\u3164b":                        codes.InvalidArgument, // Hangul filler
		"\u3164":                          codes.InvalidArgument,
		"bad name":                        codes.InvalidArgument,
		"x\u200dy":                        codes.InvalidArgument, // zero-width joiner
		"Client:x":                        codes.InvalidArgument, // the reserved prefix, any case
		"ｃｌｉｅｎｔ:x":                        codes.InvalidArgument, // or width
		accounts.ClientPrefix + "billing": codes.InvalidArgument,
	} {
		_, err := w.m.CreateUser(t.Context(), name, alicePW, nil)
		if err == nil {
			t.Errorf("CreateUser(%q) succeeded, want %v", name, code)
			continue
		}
		var e *wire.Error
		if !errors.As(err, &e) || e.Code != code {
			t.Errorf("CreateUser(%q): %v, want %v", name, err, code)
		}
	}
	// Stored in the case-preserving prepared form: fullwidth mapped, NFC.
	u, err := w.m.CreateUser(t.Context(), "Ｃａｒｏｌ", alicePW, nil)
	if err != nil || u.Name != "Carol" {
		t.Fatalf("CreateUser(fullwidth Carol) = %q, %v; want Carol", u.Name, err)
	}
	// Any spelling of the name logs in, and names the same account.
	for _, spelling := range []string{"alice", "ALICE", "ａｌｉｃｅ"} {
		got, err := w.m.Authenticate(t.Context(), accounts.Person, spelling, alicePW, addr)
		if err != nil || got.Name != "alice" {
			t.Errorf("Authenticate(%q) = %q, %v; want alice", spelling, got.Name, err)
		}
	}
}

// Every spelling of one name is one account to the throttle: guesses as
// "alice" and as "ALICE" count together.
func TestManager_ThrottleCountsEverySpellingOfANameTogether(t *testing.T) {
	w := newWorld(t, accounts.Config{})
	w.createUser(t, "alice")
	for i := range accounts.DefaultThrottlePolicy.AccountAddress.Free {
		spelling := []string{"alice", "ALICE", "Alice", "ａｌｉｃｅ", "aLiCe"}[i%5]
		if _, err := w.m.Authenticate(t.Context(), accounts.Person, spelling, "wrong password", addr); !errors.Is(err, accounts.ErrInvalidCredentials) {
			t.Fatalf("guess %d as %q: %v", i, spelling, err)
		}
	}
	if _, err := w.m.Authenticate(t.Context(), accounts.Person, "alice", alicePW, addr); !errors.Is(err, accounts.ErrThrottled) {
		t.Fatalf("after guesses under other spellings: %v, want ErrThrottled", err)
	}
}
