package service_test

import (
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/authd-dev/authd/authdtest/tokens"
	"github.com/authd-dev/authd/examples/greeter"
	authv1 "github.com/authd-dev/authd/gen/auth/v1"
	examplev1 "github.com/authd-dev/authd/gen/example/v1"
	"github.com/authd-dev/authd/guard"
	"github.com/authd-dev/authd/internal/authdenv"
	"github.com/authd-dev/authd/revocation"
)

// The hostile-input suite: every case goes through a real server over
// bufconn — the example greeter protected by the interceptors (with authd's
// revocation check), or authd itself — and must get exactly its gRPC code
// and ErrorInfo reason. docs/security.md counts the cases.

// attackWorld is authd, a greeter, and what the cases need to forge tokens.
type attackWorld struct {
	authd   *authdenv.Env
	greeter examplev1.GreeterServiceClient
	kid     string
	signKey ed25519.PrivateKey
	pubKey  ed25519.PublicKey
	login   *authv1.LoginResponse
	sid     string // the login's session, live
}

func newAttackWorld(t *testing.T) *attackWorld {
	t.Helper()
	e := newEnv(t)
	srv, err := greeter.NewServer(guard.New(e.Verifier, guard.Config{PublicHealthAndReflection: true, Revocations: e.Sessions, Clock: e.Clock}), e.Clock)
	if err != nil {
		t.Fatal(err)
	}
	w := &attackWorld{authd: e, greeter: examplev1.NewGreeterServiceClient(tokens.Serve(t, srv))}
	kid, key := e.Keys.SigningKey()
	w.kid, w.signKey = kid, key.(ed25519.PrivateKey)
	w.pubKey = w.signKey.Public().(ed25519.PublicKey)
	w.login = e.Login(t, "alice", "correct horse")
	c, err := e.Verifier.Verify(bg, w.login.AccessToken)
	if err != nil {
		t.Fatal(err)
	}
	w.sid = c.SessionID
	return w
}

// claims are a valid access token's claims, as JSON members, to be edited.
func (w *attackWorld) claims() map[string]any {
	now := w.authd.Clock.Now().Unix()
	return map[string]any{
		"iss": "authd", "aud": "authd", "sub": "alice", "type": "access", "fresh": false,
		"jti": "forged", "iat": now, "nbf": now, "exp": now + 600, "sid": w.sid,
	}
}

func (w *attackWorld) header() map[string]any {
	return map[string]any{"alg": "EdDSA", "typ": "at+jwt", "kid": w.kid}
}

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

// forge builds header.payload.signature from raw JSON, signed by sign.
func forge(header, payload []byte, sign func(input string) []byte) string {
	input := b64(header) + "." + b64(payload)
	return input + "." + b64(sign(input))
}

func (w *attackWorld) ed25519(input string) []byte { return ed25519.Sign(w.signKey, []byte(input)) }

func hs256(key []byte) func(string) []byte {
	return func(input string) []byte {
		m := hmac.New(sha256.New, key)
		m.Write([]byte(input))
		return m.Sum(nil)
	}
}

func noSignature(string) []byte { return nil }

// signed returns a token with our key, after edit changes header and claims.
func (w *attackWorld) signed(edit func(h, c map[string]any)) string {
	h, c := w.header(), w.claims()
	edit(h, c)
	return forge(mustJSON(h), mustJSON(c), w.ed25519)
}

// Where a case's call goes.
type target int

const (
	greeterAccess target = iota // GreeterService/WhoAmI: ACCESS
	greeterFresh                // GreeterService/DeleteAccount: FRESH_ACCESS
	authdRefresh                // AuthService/Refresh: REFRESH
	authdVerify                 // AuthService/Verify with the token in metadata
)

func (w *attackWorld) call(to target, md metadata.MD) error {
	ctx := metadata.NewOutgoingContext(bg, md)
	var err error
	switch to {
	case greeterAccess:
		_, err = w.greeter.WhoAmI(ctx, &examplev1.WhoAmIRequest{})
	case greeterFresh:
		_, err = w.greeter.DeleteAccount(ctx, &examplev1.DeleteAccountRequest{})
	case authdRefresh:
		_, err = w.authd.Client.Refresh(ctx, &authv1.RefreshRequest{})
	case authdVerify:
		_, err = w.authd.Client.Verify(ctx, &authv1.VerifyRequest{})
	}
	return err
}

func bearer(tok string) metadata.MD { return metadata.Pairs("authorization", "Bearer "+tok) }

type attack struct {
	name   string
	to     target
	md     func(w *attackWorld) metadata.MD
	code   codes.Code
	reason string
}

func tokenCase(name string, to target, tok func(w *attackWorld) string, code codes.Code, reason string) attack {
	return attack{name: name, to: to, md: func(w *attackWorld) metadata.MD { return bearer(tok(w)) }, code: code, reason: reason}
}

func refused(name string, tok func(w *attackWorld) string, reason string) attack {
	return tokenCase(name, greeterAccess, tok, codes.Unauthenticated, reason)
}

func accepted(name string, tok func(w *attackWorld) string) attack {
	return tokenCase(name, greeterAccess, tok, codes.OK, "")
}

func header(md ...string) func(*attackWorld) metadata.MD {
	return func(*attackWorld) metadata.MD { return metadata.Pairs(md...) }
}

func withAlg(alg string, sign func(w *attackWorld) func(string) []byte) func(w *attackWorld) string {
	return func(w *attackWorld) string {
		h := w.header()
		h["alg"] = alg
		return forge(mustJSON(h), mustJSON(w.claims()), sign(w))
	}
}

func edit(f func(h, c map[string]any)) func(w *attackWorld) string {
	return func(w *attackWorld) string { return w.signed(f) }
}

func rawClaims(payload func(now int64) string) func(w *attackWorld) string {
	return func(w *attackWorld) string {
		return forge(mustJSON(w.header()), []byte(payload(w.authd.Clock.Now().Unix())), w.ed25519)
	}
}

var attacks = []attack{
	// Algorithms (RFC 8725 2.1, 3.1).
	refused("alg none", withAlg("none", func(*attackWorld) func(string) []byte { return noSignature }), "TOKEN_INVALID"),
	refused("alg None", withAlg("None", func(*attackWorld) func(string) []byte { return noSignature }), "TOKEN_INVALID"),
	refused("alg NONE", withAlg("NONE", func(*attackWorld) func(string) []byte { return noSignature }), "TOKEN_INVALID"),
	refused("alg none with a real signature", withAlg("none", func(w *attackWorld) func(string) []byte { return w.ed25519 }), "TOKEN_INVALID"),
	refused("HS256 keyed with the Ed25519 public key bytes", withAlg("HS256", func(w *attackWorld) func(string) []byte { return hs256(w.pubKey) }), "TOKEN_INVALID"),
	refused("HS256 keyed with the JWKS x value", withAlg("HS256", func(w *attackWorld) func(string) []byte { return hs256([]byte(b64(w.pubKey))) }), "TOKEN_INVALID"),
	refused("alg eddsa in lower case", withAlg("eddsa", func(w *attackWorld) func(string) []byte { return w.ed25519 }), "TOKEN_INVALID"),
	refused("alg RS256 over an Ed25519 signature", withAlg("RS256", func(w *attackWorld) func(string) []byte { return w.ed25519 }), "TOKEN_INVALID"),

	// Key ids and key-choosing headers.
	refused("unknown kid", edit(func(h, _ map[string]any) { h["kid"] = "0123456789abcdef" }), "TOKEN_INVALID"),
	refused("path-like kid", edit(func(h, _ map[string]any) { h["kid"] = "../../../../etc/passwd" }), "TOKEN_INVALID"),
	refused("SQL kid", edit(func(h, _ map[string]any) { h["kid"] = "' OR '1'='1' --" }), "TOKEN_INVALID"),
	refused("empty kid", edit(func(h, _ map[string]any) { h["kid"] = "" }), "TOKEN_INVALID"),
	refused("numeric kid", edit(func(h, _ map[string]any) { h["kid"] = 7 }), "TOKEN_INVALID"),
	refused("no kid", edit(func(h, _ map[string]any) { delete(h, "kid") }), "TOKEN_INVALID"),
	refused("jku header", edit(func(h, _ map[string]any) { h["jku"] = "http://127.0.0.1:1/jwks.json" }), "TOKEN_INVALID"),
	refused("embedded jwk header", edit(func(h, _ map[string]any) { h["jwk"] = map[string]string{"kty": "OKP"} }), "TOKEN_INVALID"),
	refused("x5u header", edit(func(h, _ map[string]any) { h["x5u"] = "http://127.0.0.1:1/cert" }), "TOKEN_INVALID"),
	refused("crit header", edit(func(h, _ map[string]any) { h["crit"] = []string{"exp"} }), "TOKEN_INVALID"),
	refused("typ not at+jwt", edit(func(h, _ map[string]any) { h["typ"] = "at+jwt+evil" }), "TOKEN_INVALID"),
	refused("typ JWT", edit(func(h, _ map[string]any) { h["typ"] = "JWT" }), "TOKEN_INVALID"),
	refused("no typ", edit(func(h, _ map[string]any) { delete(h, "typ") }), "TOKEN_INVALID"),
	refused("access token typed refresh+jwt", edit(func(h, _ map[string]any) { h["typ"] = "refresh+jwt" }), "TOKEN_INVALID"),

	// Registered claims.
	refused("missing exp", edit(func(_, c map[string]any) { delete(c, "exp") }), "TOKEN_INVALID"),
	refused("exp as a string", edit(func(_, c map[string]any) { c["exp"] = fmt.Sprint(c["exp"]) }), "TOKEN_INVALID"),
	refused("exp far in the future", edit(func(_, c map[string]any) { c["exp"] = int64(253402300799) }), "TOKEN_INVALID"),
	refused("exp overflowing", edit(func(_, c map[string]any) { c["exp"] = 1e300 }), "TOKEN_EXPIRED"),
	refused("exp expired", edit(func(_, c map[string]any) { c["exp"] = c["iat"].(int64) - 1 }), "TOKEN_EXPIRED"),
	refused("expired and wrong issuer", edit(func(_, c map[string]any) { c["exp"], c["iss"] = c["iat"].(int64)-1, "evil" }), "TOKEN_INVALID"),
	refused("nbf in the future", edit(func(_, c map[string]any) { c["nbf"] = c["iat"].(int64) + 60 }), "TOKEN_INVALID"),
	refused("iat in the future", edit(func(_, c map[string]any) { c["iat"] = c["iat"].(int64) + 60 }), "TOKEN_INVALID"),
	refused("wrong issuer", edit(func(_, c map[string]any) { c["iss"] = "https://evil.example" }), "TOKEN_INVALID"),
	refused("no issuer", edit(func(_, c map[string]any) { delete(c, "iss") }), "TOKEN_INVALID"),
	refused("wrong audience", edit(func(_, c map[string]any) { c["aud"] = "billing" }), "TOKEN_INVALID"),
	refused("audience array without ours", edit(func(_, c map[string]any) { c["aud"] = []string{"billing", "shipping"} }), "TOKEN_INVALID"),
	accepted("audience array with ours", edit(func(_, c map[string]any) { c["aud"] = []string{"billing", "authd"} })),
	refused("no subject", edit(func(_, c map[string]any) { delete(c, "sub") }), "TOKEN_INVALID"),
	refused("no type", edit(func(_, c map[string]any) { delete(c, "type") }), "TOKEN_INVALID"),
	refused("no sid: a session-less token could never be revoked", edit(func(_, c map[string]any) { delete(c, "sid") }), "TOKEN_INVALID"),
	refused("type admin", edit(func(_, c map[string]any) { c["type"] = "admin" }), "TOKEN_INVALID"),
	// RFC 7519 section 4: a parser must reject duplicates or take the last.
	// authd rejects them (and case variants of the names it reads, which
	// Go's JSON would take for the real ones): other verifiers may read
	// another member than Go does.
	refused("duplicate type claim, refresh last", rawClaims(func(now int64) string {
		return fmt.Sprintf(`{"iss":"authd","aud":"authd","sub":"alice","type":"access","jti":"d","iat":%d,"exp":%d,"type":"refresh"}`, now, now+600)
	}), "TOKEN_INVALID"),
	refused("duplicate exp claim, past last", rawClaims(func(now int64) string {
		return fmt.Sprintf(`{"iss":"authd","aud":"authd","sub":"alice","type":"access","jti":"d","iat":%d,"exp":%d,"exp":%d}`, now, now+600, now-1)
	}), "TOKEN_INVALID"),
	refused("case variant SUB overriding sub", rawClaims(func(now int64) string {
		return fmt.Sprintf(`{"iss":"authd","aud":"authd","sub":"alice","type":"access","jti":"d","iat":%d,"exp":%d,"SUB":"root"}`, now, now+600)
	}), "TOKEN_INVALID"),
	refused("case variant Roles", rawClaims(func(now int64) string {
		return fmt.Sprintf(`{"iss":"authd","aud":"authd","sub":"alice","type":"access","jti":"d","iat":%d,"exp":%d,"Roles":["admin"]}`, now, now+600)
	}), "TOKEN_INVALID"),
	refused("case variant header KID", edit(func(h, _ map[string]any) { h["KID"] = h["kid"] }), "TOKEN_INVALID"),
	refused("payload not an object", rawClaims(func(int64) string { return `["alice"]` }), "TOKEN_INVALID"),
	refused("payload not JSON", rawClaims(func(int64) string { return `alice` }), "TOKEN_INVALID"),

	// Size: refused before any decoding (BenchmarkAuthorize_OversizedToken
	// shows no allocation).
	refused("1 MiB header segment", func(w *attackWorld) string {
		return b64([]byte(strings.Repeat("h", 1<<20))) + "." + strings.Split(w.login.AccessToken, ".")[1] + ".sig"
	}, "TOKEN_INVALID"),
	refused("1 MiB payload segment", func(w *attackWorld) string {
		return w.signed(func(_, c map[string]any) { c["pad"] = strings.Repeat("p", 1<<20) })
	}, "TOKEN_INVALID"),
	refused("just over 8 KiB", func(w *attackWorld) string {
		return w.signed(func(_, c map[string]any) { c["pad"] = strings.Repeat("p", 6200) })
	}, "TOKEN_INVALID"),
	{name: "1 MiB metadata at authd: refused by the transport", to: authdVerify,
		md: func(w *attackWorld) metadata.MD { return bearer(strings.Repeat("a", 1<<20)) }, code: codes.Internal},

	// Encoding.
	refused("padded base64", func(w *attackWorld) string { return strings.Replace(w.login.AccessToken, ".", "==.", 1) }, "TOKEN_INVALID"),
	refused("standard base64 alphabet", func(w *attackWorld) string {
		claims := mustJSON(w.claims())
		claims = append(claims[:len(claims)-1], []byte(`,"x":"~~~~~~"}`)...) // encodes to "+" in standard base64
		input := base64.RawStdEncoding.EncodeToString(mustJSON(w.header())) + "." + base64.RawStdEncoding.EncodeToString(claims)
		return input + "." + base64.RawStdEncoding.EncodeToString(ed25519.Sign(w.signKey, []byte(input)))
	}, "TOKEN_INVALID"),
	refused("four segments", func(w *attackWorld) string { return w.login.AccessToken + ".extra" }, "TOKEN_INVALID"),
	refused("empty segments", func(*attackWorld) string { return ".." }, "TOKEN_INVALID"),
	refused("tampered payload", func(w *attackWorld) string {
		parts := strings.Split(w.login.AccessToken, ".")
		payload, _ := base64.RawURLEncoding.DecodeString(parts[1])
		parts[1] = b64([]byte(strings.Replace(string(payload), `"alice"`, `"admin"`, 1)))
		return strings.Join(parts, ".")
	}, "TOKEN_INVALID"),
	refused("signature of another token", func(w *attackWorld) string {
		other := w.signed(func(_, c map[string]any) { c["sub"] = "admin" })
		parts := strings.Split(w.login.AccessToken, ".")
		return strings.Join(parts[:2], ".") + "." + strings.Split(other, ".")[2]
	}, "TOKEN_INVALID"),

	// The authorization metadata.
	{name: "bearer in lower case", md: func(w *attackWorld) metadata.MD {
		return metadata.Pairs("authorization", "bearer "+w.login.AccessToken)
	}, code: codes.OK},
	{name: "BEARER in upper case", md: func(w *attackWorld) metadata.MD {
		return metadata.Pairs("authorization", "BEARER "+w.login.AccessToken)
	}, code: codes.OK},
	{name: "Basic credentials", md: header("authorization", "Basic YWxpY2U6Y29ycmVjdCBob3JzZQ=="), code: codes.Unauthenticated, reason: "TOKEN_MISSING"},
	{name: "two spaces after Bearer", md: func(w *attackWorld) metadata.MD {
		return metadata.Pairs("authorization", "Bearer  "+w.login.AccessToken)
	}, code: codes.Unauthenticated, reason: "TOKEN_MISSING"},
	{name: "trailing space", md: func(w *attackWorld) metadata.MD {
		return metadata.Pairs("authorization", "Bearer "+w.login.AccessToken+" ")
	}, code: codes.Unauthenticated, reason: "TOKEN_MISSING"},
	{name: "Bearer without a token", md: header("authorization", "Bearer"), code: codes.Unauthenticated, reason: "TOKEN_MISSING"},
	{name: "Bearer and a space", md: header("authorization", "Bearer "), code: codes.Unauthenticated, reason: "TOKEN_MISSING"},
	{name: "token without a scheme", md: func(w *attackWorld) metadata.MD {
		return metadata.Pairs("authorization", w.login.AccessToken)
	}, code: codes.Unauthenticated, reason: "TOKEN_MISSING"},
	{name: "two authorization values", md: func(w *attackWorld) metadata.MD {
		return metadata.Pairs("authorization", "Bearer "+w.login.AccessToken, "authorization", "Bearer "+w.login.AccessToken)
	}, code: codes.Unauthenticated, reason: "TOKEN_MISSING"},
	{name: "token in another metadata key", md: func(w *attackWorld) metadata.MD {
		return metadata.Pairs("x-access-token", w.login.AccessToken)
	}, code: codes.Unauthenticated, reason: "TOKEN_MISSING"},
	{name: "no metadata", md: header(), code: codes.Unauthenticated, reason: "TOKEN_MISSING"},

	// Token types and freshness.
	refused("refresh token as access", func(w *attackWorld) string { return w.login.RefreshToken }, "WRONG_TOKEN_TYPE"),
	tokenCase("access token at Refresh", authdRefresh, func(w *attackWorld) string { return w.login.AccessToken }, codes.Unauthenticated, "WRONG_TOKEN_TYPE"),
	tokenCase("refresh token at a fresh-only method", greeterFresh, func(w *attackWorld) string { return w.login.RefreshToken }, codes.Unauthenticated, "WRONG_TOKEN_TYPE"),
	tokenCase("forged fresh claim as a date", greeterFresh, edit(func(_, c map[string]any) { c["fresh"] = c["iat"].(int64) - 1 }), codes.Unauthenticated, "FRESH_TOKEN_REQUIRED"),

	// A stolen signing key and the sid of a live session of one's own: the
	// token must still be the session's (subject, roles, scopes).
	refused("another subject on a live session", edit(func(_, c map[string]any) { c["sub"] = "root" }), "TOKEN_REVOKED"),
	refused("roles the session does not have", edit(func(_, c map[string]any) { c["roles"] = []string{"authd:admin"} }), "TOKEN_REVOKED"),
	refused("a scope the account was never granted", edit(func(_, c map[string]any) { c["scope"] = "orders:write" }), "TOKEN_REVOKED"),
	tokenCase("another subject on a live session, at Verify", authdVerify, edit(func(_, c map[string]any) { c["sub"] = "root" }), codes.Unauthenticated, "TOKEN_REVOKED"),
}

// With a stolen signing key and one live session of their own, a forger
// mints sub=root, roles=[authd:admin] with that sid: authd's AdminService
// and a consumer that verifies with the JWKS and learns sessions from
// authd (revocation.Poller, as protect sets up) both refuse it, and both
// still accept the session's own tokens.
func TestStolenKey_ForgedIdentityOnALiveSessionIsRefused(t *testing.T) {
	w := newAttackWorld(t)
	w.authd.AddUser(t, "root", "root's password", "authd:admin")
	forged := w.signed(func(_, c map[string]any) {
		c["sub"], c["roles"], c["fresh"] = "root", []string{"authd:admin"}, true
	})
	admin := authv1.NewAdminServiceClient(w.authd.Conn)
	_, err := admin.ListUsers(tokens.Bearer(bg, forged), &authv1.ListUsersRequest{})
	tokens.WantRefusal(t, err, codes.Unauthenticated, revoked)
	_, err = admin.DisableUser(tokens.Bearer(bg, forged), &authv1.DisableUserRequest{Username: "alice"})
	tokens.WantRefusal(t, err, codes.Unauthenticated, revoked)

	poller := revocation.NewPoller(w.authd.Conn, revocation.Config{Clock: w.authd.Clock})
	if err := poller.Poll(bg); err != nil {
		t.Fatal(err)
	}
	srv, err := greeter.NewServer(guard.New(w.authd.Verifier, guard.Config{PublicHealthAndReflection: true, Revocations: poller, Clock: w.authd.Clock}), w.authd.Clock)
	if err != nil {
		t.Fatal(err)
	}
	consumer := examplev1.NewGreeterServiceClient(tokens.Serve(t, srv))
	// The consumer meets the session first through the forgery.
	_, err = consumer.WhoAmI(tokens.Bearer(bg, forged), &examplev1.WhoAmIRequest{})
	tokens.WantRefusal(t, err, codes.Unauthenticated, revoked)
	if _, err := consumer.WhoAmI(tokens.Bearer(bg, w.login.AccessToken), &examplev1.WhoAmIRequest{}); err != nil {
		t.Fatalf("the session's own token at the consumer: %v", err)
	}
	_, err = consumer.WhoAmI(tokens.Bearer(bg, forged), &examplev1.WhoAmIRequest{})
	tokens.WantRefusal(t, err, codes.Unauthenticated, revoked)
}

func TestHostileInputs(t *testing.T) {
	w := newAttackWorld(t)
	for _, a := range attacks {
		t.Run(a.name, func(t *testing.T) {
			err := w.call(a.to, a.md(w))
			if a.code == codes.OK {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			if a.reason == "" {
				if status.Code(err) != a.code {
					t.Fatalf("err = %v, want %v", err, a.code)
				}
				return
			}
			tokens.WantRefusal(t, err, a.code, a.reason)
		})
	}
}

// Replays need state: each runs on its own authd.
func TestHostileReplays(t *testing.T) {
	t.Run("access token after logout", func(t *testing.T) {
		w := newAttackWorld(t)
		if _, err := w.authd.Client.Logout(tokens.Bearer(bg, w.login.AccessToken), &authv1.LogoutRequest{}); err != nil {
			t.Fatal(err)
		}
		tokens.WantRefusal(t, w.call(greeterAccess, bearer(w.login.AccessToken)), codes.Unauthenticated, revoked)
		tokens.WantRefusal(t, w.call(authdVerify, bearer(w.login.AccessToken)), codes.Unauthenticated, revoked)
		tokens.WantRefusal(t, w.call(authdRefresh, bearer(w.login.RefreshToken)), codes.Unauthenticated, revoked)
	})
	t.Run("refresh token reuse", func(t *testing.T) {
		w := newAttackWorld(t)
		first, err := w.authd.Client.Refresh(tokens.Bearer(bg, w.login.RefreshToken), &authv1.RefreshRequest{})
		if err != nil {
			t.Fatal(err)
		}
		next, err := w.authd.Client.Refresh(tokens.Bearer(bg, first.RefreshToken), &authv1.RefreshRequest{}) // the successor is used
		if err != nil {
			t.Fatal(err)
		}
		w.authd.Clock.Advance(service10s + time.Second) // past the reuse grace
		tokens.WantRefusal(t, w.call(authdRefresh, bearer(w.login.RefreshToken)), codes.Unauthenticated, revoked)
		// The whole session is gone: the legitimate holder too.
		tokens.WantRefusal(t, w.call(authdRefresh, bearer(next.RefreshToken)), codes.Unauthenticated, revoked)
		tokens.WantRefusal(t, w.call(greeterAccess, bearer(next.AccessToken)), codes.Unauthenticated, revoked)
	})
	t.Run("other sessions after a password change", func(t *testing.T) {
		w := newAttackWorld(t)
		current := w.authd.Login(t, "alice", "correct horse")
		if _, err := w.authd.Client.ChangePassword(tokens.Bearer(bg, current.AccessToken),
			&authv1.ChangePasswordRequest{OldPassword: "correct horse", NewPassword: "battery staple"}); err != nil {
			t.Fatal(err)
		}
		tokens.WantRefusal(t, w.call(greeterAccess, bearer(w.login.AccessToken)), codes.Unauthenticated, revoked)
	})
	t.Run("a token of a session authd never issued", func(t *testing.T) {
		w := newAttackWorld(t)
		tok := w.signed(func(_, c map[string]any) { c["sid"] = "no-such-session" })
		tokens.WantRefusal(t, w.call(greeterAccess, bearer(tok)), codes.Unauthenticated, revoked)
	})
}

// service10s is authd's default refresh-reuse grace.
const service10s = 10 * time.Second
