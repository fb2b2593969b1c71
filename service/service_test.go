package service_test

import (
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/authd-dev/authd/authdtest/tokens"
	authv1 "github.com/authd-dev/authd/gen/auth/v1"
	"github.com/authd-dev/authd/internal/authdenv"
	"github.com/authd-dev/authd/token"
	"github.com/authd-dev/authd/wire"
)

const (
	missing   = "TOKEN_MISSING"
	invalid   = "TOKEN_INVALID"
	expired   = "TOKEN_EXPIRED"
	wrongType = "WRONG_TOKEN_TYPE"
	notFresh  = "FRESH_TOKEN_REQUIRED"
	revoked   = "TOKEN_REVOKED"
	badCreds  = "INVALID_CREDENTIALS"
)

var bg = context.Background()

func newEnv(t *testing.T, opts ...func(*authdenv.Options)) *authdenv.Env {
	e := authdenv.New(t, opts...)
	e.AddUser(t, "alice", "correct horse")
	return e
}

func verify(e *authdenv.Env, tok string, req authv1.Requirement) (*authv1.Claims, error) {
	resp, err := e.Client.Verify(bg, &authv1.VerifyRequest{Token: tok, Requirement: req})
	return resp.GetClaims(), err
}

func TestLogin_ReturnsFreshAccessAndRefreshToken(t *testing.T) {
	e := newEnv(t)
	resp := e.Login(t, "alice", "correct horse")
	if resp.TokenType != "Bearer" || resp.ExpiresIn != 900 || resp.RefreshExpiresIn != 86400 {
		t.Fatalf("response = %v", resp)
	}
	access, err := verify(e, resp.AccessToken, authv1.Requirement_REQUIREMENT_FRESH_ACCESS)
	if err != nil {
		t.Fatal(err)
	}
	if access.Subject != "alice" || access.Type != "access" || !access.Fresh || access.Sid == "" ||
		access.AuthTime != tokens.Start.Unix() || access.ExpiresAt != tokens.Start.Add(15*time.Minute).Unix() {
		t.Fatalf("access claims = %v", access)
	}
	refresh, err := verify(e, resp.RefreshToken, authv1.Requirement_REQUIREMENT_REFRESH)
	if err != nil {
		t.Fatal(err)
	}
	if refresh.Type != "refresh" || refresh.Fresh || refresh.Sid != access.Sid {
		t.Fatalf("refresh claims = %v", refresh)
	}
}

func TestLogin_FailuresAreIndistinguishable(t *testing.T) {
	e := newEnv(t)
	e.AddUser(t, "bob", "bob's password")
	if err := e.DB.SetDisabled(bg, "bob", true, e.Clock.Now()); err != nil {
		t.Fatal(err)
	}
	var messages []string
	for _, tc := range []struct{ name, user, pw string }{
		{"wrong password", "alice", "wrong"},
		{"unknown user", "mallory", "correct horse"},
		{"disabled user", "bob", "bob's password"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := e.Client.Login(bg, &authv1.LoginRequest{Username: tc.user, Password: tc.pw})
			tokens.WantRefusal(t, err, codes.Unauthenticated, badCreds)
			messages = append(messages, status.Convert(err).Message())
		})
	}
	for _, m := range messages {
		if m != "invalid username or password" {
			t.Errorf("message %q differs", m)
		}
	}
}

func TestLogin_BadInput(t *testing.T) {
	e := newEnv(t)
	for _, tc := range []struct {
		name, user, pw string
		code           codes.Code
	}{
		{"empty username", "", "pw", codes.InvalidArgument},
		{"empty password", "alice", "", codes.InvalidArgument},
		{"password over 1024 bytes", "alice", strings.Repeat("x", 1025), codes.InvalidArgument},
		{"password of 1024 bytes", "alice", strings.Repeat("x", 1024), codes.Unauthenticated},
		{"NUL in username", "ali\x00ce", "pw", codes.InvalidArgument},
		{"NUL in password", "alice", "correct\x00horse", codes.Unauthenticated},
		{"username with spaces around", " alice ", "pw", codes.InvalidArgument},
		{"username too long", strings.Repeat("a", 257), "pw", codes.InvalidArgument},
		{"invalid UTF-8 username", "\xffalice", "pw", codes.InvalidArgument},
		{"invalid UTF-8 password", "alice", "correct\xfe\xffhorse", codes.InvalidArgument},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := e.Client.Login(bg, &authv1.LoginRequest{Username: tc.user, Password: tc.pw})
			if status.Code(err) != tc.code {
				t.Fatalf("code = %v, want %v (%v)", status.Code(err), tc.code, err)
			}
		})
	}
	t.Run("10 MB password is refused before hashing", func(t *testing.T) {
		_, err := e.Client.Login(bg, &authv1.LoginRequest{Username: "alice", Password: strings.Repeat("x", 10<<20)})
		if c := status.Code(err); c != codes.ResourceExhausted && c != codes.InvalidArgument {
			t.Fatalf("code = %v, want ResourceExhausted (message size) or InvalidArgument", c)
		}
	})
}

func TestRefresh_GivesNonFreshAccessToken(t *testing.T) {
	e := newEnv(t)
	login := e.Login(t, "alice", "correct horse")
	e.Clock.Advance(5 * time.Minute)
	resp, err := e.Client.Refresh(tokens.Bearer(bg, login.RefreshToken), &authv1.RefreshRequest{})
	if err != nil {
		t.Fatal(err)
	}
	claims, err := verify(e, resp.AccessToken, authv1.Requirement_REQUIREMENT_ACCESS)
	if err != nil {
		t.Fatal(err)
	}
	if claims.Fresh || claims.Type != "access" || claims.Subject != "alice" {
		t.Fatalf("claims = %v, want non-fresh access token for alice", claims)
	}
	_, err = verify(e, resp.AccessToken, authv1.Requirement_REQUIREMENT_FRESH_ACCESS)
	tokens.WantRefusal(t, err, codes.Unauthenticated, notFresh)
	if resp.RefreshToken == "" || resp.RefreshToken == login.RefreshToken {
		t.Fatal("refresh token was not rotated")
	}
}

func TestRefresh_Refusals(t *testing.T) {
	e := newEnv(t)
	login := e.Login(t, "alice", "correct horse")
	expiredEnv := func() string {
		e.Clock.Advance(25 * time.Hour)
		return login.RefreshToken
	}
	for _, tc := range []struct {
		name   string
		header func() string // the whole authorization value; "" sends none
		reason string
	}{
		{"no metadata", func() string { return "" }, missing},
		{"access token", func() string { return "Bearer " + login.AccessToken }, wrongType},
		{"garbage", func() string { return "Bearer not.a.jwt" }, invalid},
		{"basic scheme", func() string { return "Basic YWxpY2U6cHc=" }, missing},
		{"expired refresh token", func() string { return "Bearer " + expiredEnv() }, expired},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := bg
			if h := tc.header(); h != "" {
				ctx = withAuthorization(ctx, h)
			}
			_, err := e.Client.Refresh(ctx, &authv1.RefreshRequest{})
			tokens.WantRefusal(t, err, codes.Unauthenticated, tc.reason)
		})
	}
}

func TestRefresh_ConcurrentRefreshesGetOnePair(t *testing.T) {
	e := newEnv(t)
	login := e.Login(t, "alice", "correct horse")
	const n = 50
	results := make([]*authv1.RefreshResponse, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i], errs[i] = e.Client.Refresh(tokens.Bearer(bg, login.RefreshToken), &authv1.RefreshRequest{})
		}()
	}
	wg.Wait()
	for i := range n {
		if errs[i] != nil {
			t.Fatalf("refresh %d: %v", i, errs[i])
		}
		if results[i].AccessToken != results[0].AccessToken || results[i].RefreshToken != results[0].RefreshToken {
			t.Fatalf("refresh %d returned a different pair: the session forked", i)
		}
	}
	claims, err := verify(e, results[0].RefreshToken, authv1.Requirement_REQUIREMENT_REFRESH)
	if err != nil {
		t.Fatal(err)
	}
	sess, err := e.DB.Session(bg, claims.Sid)
	if err != nil || sess.Current.RefreshJTI != claims.Jti {
		t.Fatalf("session's live refresh token = %q (err %v), want %q", sess.Current.RefreshJTI, err, claims.Jti)
	}
}

// A spent refresh token whose successor is unused gets the same pair, past
// the grace too (a client whose response was lost while authd was down for
// longer); once the successor has been used, the spent token refused with
// REFRESH_SUPERSEDED within the grace, the session kept, and past it is
// reuse, which revokes the session.
func TestRefresh_ReuseAfterTheSuccessorWasUsedRevokesSession(t *testing.T) {
	e := newEnv(t)
	login := e.Login(t, "alice", "correct horse")
	first, err := e.Client.Refresh(tokens.Bearer(bg, login.RefreshToken), &authv1.RefreshRequest{})
	if err != nil {
		t.Fatal(err)
	}
	for _, wait := range []time.Duration{5 * time.Second, 15 * time.Second, time.Hour} {
		e.Clock.Advance(wait)
		again, err := e.Client.Refresh(tokens.Bearer(bg, login.RefreshToken), &authv1.RefreshRequest{})
		if err != nil || again.RefreshToken != first.RefreshToken || again.AccessToken != first.AccessToken {
			t.Fatalf("retry %s later, successor unused: %v, same pair %v", wait, err, err == nil && again.RefreshToken == first.RefreshToken)
		}
	}
	second, err := e.Client.Refresh(tokens.Bearer(bg, first.RefreshToken), &authv1.RefreshRequest{})
	if err != nil {
		t.Fatal(err)
	}
	e.Clock.Advance(5 * time.Second)
	_, err = e.Client.Refresh(tokens.Bearer(bg, login.RefreshToken), &authv1.RefreshRequest{})
	tokens.WantRefusal(t, err, codes.Aborted, wire.ReasonRefreshSuperseded)
	if _, err := verify(e, second.AccessToken, authv1.Requirement_REQUIREMENT_ACCESS); err != nil {
		t.Fatalf("the session after a superseded refresh: %v", err)
	}
	e.Clock.Advance(6 * time.Second)
	_, err = e.Client.Refresh(tokens.Bearer(bg, login.RefreshToken), &authv1.RefreshRequest{})
	tokens.WantRefusal(t, err, codes.Unauthenticated, revoked)

	// The legitimate holder is logged out too, and so are its access tokens.
	_, err = e.Client.Refresh(tokens.Bearer(bg, second.RefreshToken), &authv1.RefreshRequest{})
	tokens.WantRefusal(t, err, codes.Unauthenticated, revoked)
	_, err = verify(e, second.AccessToken, authv1.Requirement_REQUIREMENT_ACCESS)
	tokens.WantRefusal(t, err, codes.Unauthenticated, revoked)
}

func TestRefresh_OlderAncestorIsReuse(t *testing.T) {
	e := newEnv(t)
	login := e.Login(t, "alice", "correct horse")
	rt := login.RefreshToken
	for range 3 {
		next, err := e.Client.Refresh(tokens.Bearer(bg, rt), &authv1.RefreshRequest{})
		if err != nil {
			t.Fatal(err)
		}
		rt = next.RefreshToken
	}
	// Within the grace window, but three rotations old.
	_, err := e.Client.Refresh(tokens.Bearer(bg, login.RefreshToken), &authv1.RefreshRequest{})
	tokens.WantRefusal(t, err, codes.Unauthenticated, revoked)
}

func TestRefresh_IdleLifetimeRestartsButCapHolds(t *testing.T) {
	e := newEnv(t, func(o *authdenv.Options) { o.Session.SessionMax = 48 * time.Hour })
	rt := e.Login(t, "alice", "correct horse").RefreshToken
	for range 2 {
		e.Clock.Advance(20 * time.Hour)
		resp, err := e.Client.Refresh(tokens.Bearer(bg, rt), &authv1.RefreshRequest{})
		if err != nil {
			t.Fatalf("refresh after 20h idle: %v", err)
		}
		rt = resp.RefreshToken
	}
	claims, err := verify(e, rt, authv1.Requirement_REQUIREMENT_REFRESH)
	if err != nil {
		t.Fatal(err)
	}
	if want := tokens.Start.Add(48 * time.Hour).Unix(); claims.ExpiresAt != want {
		t.Fatalf("refresh exp = %d, want the session cap %d", claims.ExpiresAt, want)
	}
	e.Clock.Advance(8 * time.Hour)
	_, err = e.Client.Refresh(tokens.Bearer(bg, rt), &authv1.RefreshRequest{})
	tokens.WantRefusal(t, err, codes.Unauthenticated, expired)
}

func TestRefresh_WithoutRotationKeepsRefreshToken(t *testing.T) {
	e := newEnv(t, func(o *authdenv.Options) { o.Session.KeepRefreshToken = true })
	login := e.Login(t, "alice", "correct horse")
	for range 3 {
		resp, err := e.Client.Refresh(tokens.Bearer(bg, login.RefreshToken), &authv1.RefreshRequest{})
		if err != nil {
			t.Fatal(err)
		}
		if resp.RefreshToken != "" || resp.AccessToken == "" {
			t.Fatalf("response = %v, want an access token and no refresh token", resp)
		}
	}
}

func TestVerify_TokenCases(t *testing.T) {
	e := newEnv(t)
	login := e.Login(t, "alice", "correct horse")
	good := login.AccessToken
	_, priv, _ := ed25519.GenerateKey(nil)
	kid, _ := e.Keys.SigningKey()
	pub := e.Keys.Keys()[0].Public

	verified, err := e.Verifier.Verify(bg, good)
	if err != nil {
		t.Fatal(err)
	}
	claims := func() *token.Claims {
		now := e.Clock.Now()
		return &token.Claims{
			Issuer: "authd", Audience: token.Audience{"authd"}, Subject: "alice", Type: token.Access,
			IssuedAt: jwt.NewNumericDate(now), ExpiresAt: jwt.NewNumericDate(now.Add(time.Minute)), ID: "j",
			SessionID: verified.SessionID, // a live session: only what each case changes is wrong
		}
	}
	signEd := func(c *token.Claims, mutate func(*jwt.Token)) string {
		tok := jwt.NewWithClaims(jwt.SigningMethodEdDSA, c)
		tok.Header["kid"], tok.Header["typ"] = kid, c.Type.Typ()
		if mutate != nil {
			mutate(tok)
		}
		_, signer := e.Keys.SigningKey()
		raw, err := tok.SignedString(signer)
		if err != nil {
			t.Fatal(err)
		}
		return raw
	}
	with := func(f func(*token.Claims)) *token.Claims { c := claims(); f(c); return c }
	tampered := func() string {
		parts := strings.Split(good, ".")
		payload, _ := base64.RawURLEncoding.DecodeString(parts[1])
		payload = []byte(strings.Replace(string(payload), `"alice"`, `"admin"`, 1))
		parts[1] = base64.RawURLEncoding.EncodeToString(payload)
		return strings.Join(parts, ".")
	}
	algNone := func() string {
		raw, err := jwt.NewWithClaims(jwt.SigningMethodNone, claims()).SignedString(jwt.UnsafeAllowNoneSignatureType)
		if err != nil {
			t.Fatal(err)
		}
		return raw
	}
	hsWithPublicKey := func() string {
		tok := jwt.NewWithClaims(jwt.SigningMethodHS256, claims())
		tok.Header["kid"] = kid
		raw, err := tok.SignedString([]byte(pub))
		if err != nil {
			t.Fatal(err)
		}
		return raw
	}
	otherKey := func() string {
		tok := jwt.NewWithClaims(jwt.SigningMethodEdDSA, claims())
		tok.Header["kid"], tok.Header["typ"] = token.Thumbprint(priv.Public().(ed25519.PublicKey)), token.AccessTyp
		raw, _ := tok.SignedString(priv)
		return raw
	}

	for _, tc := range []struct {
		name   string
		raw    func() string
		reason string
	}{
		{"good", func() string { return good }, ""},
		{"tampered payload", tampered, invalid},
		{"wrong issuer", func() string { return signEd(with(func(c *token.Claims) { c.Issuer = "evil" }), nil) }, invalid},
		{"wrong audience", func() string {
			return signEd(with(func(c *token.Claims) { c.Audience = token.Audience{"other"} }), nil)
		}, invalid},
		{"audience array with ours", func() string {
			return signEd(with(func(c *token.Claims) { c.Audience = token.Audience{"x", "authd"} }), nil)
		}, ""},
		{"no exp", func() string { return signEd(with(func(c *token.Claims) { c.ExpiresAt = nil }), nil) }, invalid},
		{"nbf in future", func() string {
			return signEd(with(func(c *token.Claims) { c.NotBefore = jwt.NewNumericDate(e.Clock.Now().Add(time.Minute)) }), nil)
		}, invalid},
		{"iat in future", func() string {
			return signEd(with(func(c *token.Claims) { c.IssuedAt = jwt.NewNumericDate(e.Clock.Now().Add(time.Minute)) }), nil)
		}, invalid},
		{"expired and wrong issuer is invalid, not expired", func() string {
			return signEd(with(func(c *token.Claims) {
				c.Issuer = "evil"
				c.ExpiresAt = jwt.NewNumericDate(e.Clock.Now().Add(-time.Second))
			}), nil)
		}, invalid},
		{"no type claim", func() string { return signEd(with(func(c *token.Claims) { c.Type = "" }), nil) }, invalid},
		{"no sid claim (EdDSA tokens always have one)", func() string {
			return signEd(with(func(c *token.Claims) { c.SessionID = "" }), nil)
		}, invalid},
		{"alg none", algNone, invalid},
		{"HS256 signed with the public key", hsWithPublicKey, invalid},
		{"unknown kid", otherKey, invalid},
		{"no kid", func() string { return signEd(claims(), func(tok *jwt.Token) { delete(tok.Header, "kid") }) }, invalid},
		{"jku header", func() string {
			return signEd(claims(), func(tok *jwt.Token) { tok.Header["jku"] = "http://127.0.0.1/k" })
		}, invalid},
		{"crit header", func() string { return signEd(claims(), func(tok *jwt.Token) { tok.Header["crit"] = []string{"exp"} }) }, invalid},
		{"oversized", func() string { return signEd(with(func(c *token.Claims) { c.ID = strings.Repeat("x", 9000) }), nil) }, invalid},
		{"padded base64", func() string { return strings.Replace(good, ".", "=.", 1) }, invalid},
		{"empty", func() string { return "" }, missing},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := verify(e, tc.raw(), authv1.Requirement_REQUIREMENT_ACCESS)
			if tc.reason == "" {
				if err != nil {
					t.Fatalf("Verify: %v", err)
				}
				return
			}
			tokens.WantRefusal(t, err, codes.Unauthenticated, tc.reason)
		})
	}

	t.Run("expired", func(t *testing.T) {
		e.Clock.Advance(15 * time.Minute)
		_, err := verify(e, good, authv1.Requirement_REQUIREMENT_ACCESS)
		tokens.WantRefusal(t, err, codes.Unauthenticated, expired)
		if msg := status.Convert(err).Message(); msg != "Token has expired" {
			t.Fatalf("message = %q", msg)
		}
	})
}

func TestVerify_UsesCallerMetadataWhenBodyEmpty(t *testing.T) {
	e := newEnv(t)
	login := e.Login(t, "alice", "correct horse")
	resp, err := e.Client.Verify(tokens.Bearer(bg, login.AccessToken), &authv1.VerifyRequest{})
	if err != nil || resp.Claims.Subject != "alice" {
		t.Fatalf("Verify = %v, %v", resp, err)
	}
	_, err = e.Client.Verify(tokens.Bearer(bg, login.AccessToken), &authv1.VerifyRequest{Requirement: authv1.Requirement_REQUIREMENT_REFRESH})
	tokens.WantRefusal(t, err, codes.Unauthenticated, wrongType)
	_, err = e.Client.Verify(bg, &authv1.VerifyRequest{Requirement: 99})
	if status.Code(err) != codes.InvalidArgument {
		t.Fatalf("unknown requirement: %v, want InvalidArgument", err)
	}
}

func TestLogout_RevokesSession(t *testing.T) {
	e := newEnv(t)
	login := e.Login(t, "alice", "correct horse")
	other := e.Login(t, "alice", "correct horse")
	if _, err := e.Client.Logout(tokens.Bearer(bg, login.AccessToken), &authv1.LogoutRequest{}); err != nil {
		t.Fatal(err)
	}
	_, err := verify(e, login.AccessToken, authv1.Requirement_REQUIREMENT_ACCESS)
	tokens.WantRefusal(t, err, codes.Unauthenticated, revoked)
	_, err = e.Client.Refresh(tokens.Bearer(bg, login.RefreshToken), &authv1.RefreshRequest{})
	tokens.WantRefusal(t, err, codes.Unauthenticated, revoked)
	if _, err := verify(e, other.AccessToken, authv1.Requirement_REQUIREMENT_ACCESS); err != nil {
		t.Fatalf("another session was logged out too: %v", err)
	}
}

func TestChangePassword(t *testing.T) {
	e := newEnv(t)
	current := e.Login(t, "alice", "correct horse")
	other := e.Login(t, "alice", "correct horse")

	refreshed, err := e.Client.Refresh(tokens.Bearer(bg, current.RefreshToken), &authv1.RefreshRequest{})
	if err != nil {
		t.Fatal(err)
	}
	req := &authv1.ChangePasswordRequest{OldPassword: "correct horse", NewPassword: "battery staple"}
	_, err = e.Client.ChangePassword(tokens.Bearer(bg, refreshed.AccessToken), req)
	tokens.WantRefusal(t, err, codes.Unauthenticated, notFresh)

	_, err = e.Client.ChangePassword(tokens.Bearer(bg, current.AccessToken),
		&authv1.ChangePasswordRequest{OldPassword: "wrong", NewPassword: "battery staple"})
	tokens.WantRefusal(t, err, codes.Unauthenticated, badCreds)

	if _, err := e.Client.ChangePassword(tokens.Bearer(bg, current.AccessToken), req); err != nil {
		t.Fatal(err)
	}
	_, err = verify(e, other.AccessToken, authv1.Requirement_REQUIREMENT_ACCESS)
	tokens.WantRefusal(t, err, codes.Unauthenticated, revoked)
	if _, err := verify(e, current.AccessToken, authv1.Requirement_REQUIREMENT_ACCESS); err != nil {
		t.Fatalf("the session that changed the password was revoked: %v", err)
	}
	_, err = e.Client.Login(bg, &authv1.LoginRequest{Username: "alice", Password: "correct horse"})
	tokens.WantRefusal(t, err, codes.Unauthenticated, badCreds)
	e.Login(t, "alice", "battery staple")
}

func TestRenew_NonFreshWithinSessionCap(t *testing.T) {
	e := newEnv(t, func(o *authdenv.Options) { o.Session.SessionMax = 20 * time.Minute })
	login := e.Login(t, "alice", "correct horse")
	e.Clock.Advance(10 * time.Minute)
	resp, err := e.Client.Renew(tokens.Bearer(bg, login.AccessToken), &authv1.RenewRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if resp.ExpiresIn != 600 {
		t.Fatalf("expires_in = %d, want 600 (capped by the 20m session)", resp.ExpiresIn)
	}
	claims, err := verify(e, resp.AccessToken, authv1.Requirement_REQUIREMENT_ACCESS)
	if err != nil || claims.Fresh {
		t.Fatalf("renewed claims = %v, %v; want non-fresh", claims, err)
	}
	_, err = e.Client.Renew(tokens.Bearer(bg, login.RefreshToken), &authv1.RenewRequest{})
	tokens.WantRefusal(t, err, codes.Unauthenticated, wrongType)

	// The renewed token ends at the cap: renewing it again gains nothing.
	e.Clock.Advance(time.Minute)
	_, err = e.Client.Renew(tokens.Bearer(bg, resp.AccessToken), &authv1.RenewRequest{})
	tokens.WantRefusal(t, err, codes.FailedPrecondition, wire.ReasonSessionCapReached)
	// And nothing renews a token of a revoked session.
	if _, err := e.Client.Logout(tokens.Bearer(bg, resp.AccessToken), &authv1.LogoutRequest{}); err != nil {
		t.Fatal(err)
	}
	_, err = e.Client.Renew(tokens.Bearer(bg, login.AccessToken), &authv1.RenewRequest{})
	tokens.WantRefusal(t, err, codes.Unauthenticated, revoked)
}

func TestGetJWKS_PublishesCurrentKey(t *testing.T) {
	e := newEnv(t)
	resp, err := e.Client.GetJWKS(bg, &authv1.GetJWKSRequest{})
	if err != nil {
		t.Fatal(err)
	}
	kid, _ := e.Keys.SigningKey()
	if len(resp.Keys) != 1 || resp.Keys[0].Kid != kid || resp.Keys[0].Kty != "OKP" || resp.Keys[0].Crv != "Ed25519" ||
		resp.Keys[0].Alg != "EdDSA" || resp.Keys[0].Use != "sig" {
		t.Fatalf("keys = %v", resp.Keys)
	}
}

func TestHS256Mode(t *testing.T) {
	secret := []byte(strings.Repeat("s", 32))
	e := newEnv(t, func(o *authdenv.Options) { o.HS256 = secret })
	login := e.Login(t, "alice", "correct horse")
	if _, err := verify(e, login.AccessToken, authv1.Requirement_REQUIREMENT_FRESH_ACCESS); err != nil {
		t.Fatal(err)
	}
	resp, err := e.Client.GetJWKS(bg, &authv1.GetJWKSRequest{})
	if err != nil || len(resp.Keys) != 0 {
		t.Fatalf("GetJWKS in HS256 mode = %v, %v; want no keys", resp, err)
	}
	// A flask-jwt-extended token: no kid, no iss/aud unless configured (we
	// configure them), fresh as a NumericDate, extra csrf claim.
	now := e.Clock.Now()
	flask := jwt.MapClaims{
		"sub": "alice", "type": "access", "fresh": float64(now.Add(time.Minute).Unix()), "jti": "f1",
		"iat": now.Unix(), "nbf": now.Unix(), "exp": now.Add(time.Hour).Unix(), "csrf": "c",
		"iss": "authd", "aud": "authd",
	}
	raw, err := jwt.NewWithClaims(jwt.SigningMethodHS256, flask).SignedString(secret)
	if err != nil {
		t.Fatal(err)
	}
	claims, err := verify(e, raw, authv1.Requirement_REQUIREMENT_FRESH_ACCESS)
	if err != nil || claims.Sid != "" || !claims.Fresh {
		t.Fatalf("flask token: %v, %v", claims, err)
	}
	e.Clock.Advance(2 * time.Minute)
	_, err = verify(e, raw, authv1.Requirement_REQUIREMENT_FRESH_ACCESS)
	tokens.WantRefusal(t, err, codes.Unauthenticated, notFresh)
}

func withAuthorization(ctx context.Context, value string) context.Context {
	return metadata.AppendToOutgoingContext(ctx, "authorization", value)
}
