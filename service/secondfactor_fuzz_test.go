package service_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/pquerna/otp/totp"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/authd-dev/authd/accounts"
	"github.com/authd-dev/authd/authdtest/tokens"
	authv1 "github.com/authd-dev/authd/gen/auth/v1"
	"github.com/authd-dev/authd/internal/authdenv"
	"github.com/authd-dev/authd/token"
	"github.com/authd-dev/authd/wire"
)

// What FuzzLoginSecondFactor's use bits put in place of the fuzzed values.
const (
	usePending  = 1 << iota // the second_factor_token of alice's login in progress
	useCode                 // the authenticator's code now
	useRecovery             // one of alice's unspent recovery codes
)

// FuzzLoginSecondFactor drives LoginSecondFactor's parsing of
// second_factor_token, code and recovery_code with arbitrary bytes
// (invalid UTF-8 included), in place of or beside alice's real login in
// progress and her real codes (the use bits): it never panics, answers
// only OK, InvalidArgument or INVALID_CREDENTIALS, and answers OK exactly
// when the token is the one in progress with either a code of the
// authenticator's window not older than the last one used, or an unspent
// recovery code (dashes, spaces and ASCII case ignored) — each once. It
// never logs the token, a recovery code or the secret. Seeds:
// testdata/fuzz/FuzzLoginSecondFactor.
func FuzzLoginSecondFactor(f *testing.F) {
	// Throttling runs but never refuses, so every input reaches the check.
	lenient := accounts.DefaultThrottlePolicy
	lenient.AccountAddress.Free, lenient.Address.Free, lenient.Account.Free = 1<<30, 1<<30, 1<<30
	e := authdenv.New(f, func(o *authdenv.Options) { o.Accounts.Throttle = lenient })
	e.AddUser(f, "alice", "correct horse")
	secret, recoveryCodes := e.EnrollTOTP(f, "alice", "correct horse")
	// Two steps on from ConfirmTOTP's: every code of the window is unused.
	e.Clock.Advance(2 * accounts.TOTPPeriod)
	var window []string // the codes of the steps before, at and after now
	for i := -accounts.TOTPSkew; i <= accounts.TOTPSkew; i++ {
		c, err := totp.GenerateCode(secret, e.Clock.Now().Add(time.Duration(i)*accounts.TOTPPeriod))
		if err != nil {
			f.Fatal(err)
		}
		window = append(window, c)
	}
	unspent := map[string]bool{}
	for _, r := range recoveryCodes {
		unspent[asciiRecovery(r)] = true
	}
	challenge := func(t testing.TB) string {
		resp := e.Login(t, "alice", "correct horse")
		if !resp.SecondFactorRequired || resp.SecondFactorToken == "" {
			t.Fatalf("Login of an enrolled user = %v", resp)
		}
		return resp.SecondFactorToken
	}
	pending, lastUsed := challenge(f), -1 // lastUsed: the index in window of the last code accepted

	for _, seed := range []struct {
		use                 uint8
		tok, code, recovery string
	}{
		{usePending | useCode, "", "", ""},
		{usePending | useRecovery, "", "", ""},
		{usePending | useCode | useRecovery, "", "", ""},
		{usePending, "", "000000", ""},
		{useCode, "not-a-token", "", ""},
		{useCode, strings.Repeat("A", accounts.MaxSecondFactorToken+1), "", ""},
	} {
		f.Add(seed.use, seed.tok, seed.code, seed.recovery)
	}
	// A real recovery code with U+212A KELVIN SIGN for its k (Unicode
	// lowers it to k; the first of ten codes with a k, which nearly every
	// enrolment has), and one in upper case ASCII, which is fine.
	for _, r := range recoveryCodes {
		if strings.Contains(r, "k") {
			f.Add(uint8(usePending), "", "", strings.ReplaceAll(r, "k", "\u212a"))
			f.Add(uint8(usePending), "", "", strings.ToUpper(r))
			break
		}
	}

	f.Fuzz(func(t *testing.T, use uint8, tok, code, recovery string) {
		if use&usePending != 0 {
			tok = pending
		}
		if use&useCode != 0 {
			code = window[accounts.TOTPSkew]
		}
		if use&useRecovery != 0 {
			for r := range unspent {
				recovery = r
				break
			}
		}
		codeAt := -1
		for i, c := range window {
			if code == c && codeAt < 0 {
				codeAt = i
			}
		}
		want := tok == pending && tok != "" && ((code != "" && recovery == "" && codeAt > lastUsed) ||
			(code == "" && recovery != "" && len(recovery) <= accounts.MaxRecoveryCode && unspent[asciiRecovery(recovery)]))

		before := len(e.Logs.String())
		resp, err := e.Service.LoginSecondFactor(context.Background(), &authv1.LoginSecondFactorRequest{
			SecondFactorToken: tok, Code: code, RecoveryCode: recovery,
		})
		switch status.Code(err) {
		case codes.OK:
			if !want {
				t.Fatalf("LoginSecondFactor(%q, %q, %q) succeeded", tok, code, recovery)
			}
			claims, verr := e.Verifier.Verify(context.Background(), resp.AccessToken)
			if verr != nil || claims.Subject != "alice" || claims.ACR != token.ACRSecondFactor {
				t.Fatalf("the token of a completed login: %+v, %v", claims, verr)
			}
			if code != "" {
				lastUsed = codeAt
			} else {
				delete(unspent, asciiRecovery(recovery))
			}
			pending = challenge(t) // spent: the next inputs get a new one
		case codes.InvalidArgument:
		case codes.Unauthenticated:
			tokens.WantRefusal(t, err, codes.Unauthenticated, wire.ReasonInvalidCredentials)
		default:
			t.Fatalf("LoginSecondFactor(%q, %q, %q): %v", tok, code, recovery, err)
		}
		if err != nil && want {
			t.Fatalf("LoginSecondFactor(%q, %q, %q) refused the real proof: %v", tok, code, recovery, err)
		}
		logged := e.Logs.String()[before:]
		for _, s := range append([]string{tok, secret}, recoveryCodes...) {
			if len(s) >= 8 && strings.Contains(logged, s) {
				t.Fatalf("%q appears in the logs", s)
			}
		}
	})
}

// asciiRecovery is a recovery code as documented: dashes and spaces
// ignored, ASCII letters in either case.
func asciiRecovery(code string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r == '-' || r == ' ':
			return -1
		case 'A' <= r && r <= 'Z':
			return r + 'a' - 'A'
		}
		return r
	}, code)
}
