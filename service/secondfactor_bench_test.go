package service_test

import (
	"testing"
	"time"

	"github.com/pquerna/otp/totp"

	"github.com/authd-dev/authd/accounts"
	authv1 "github.com/authd-dev/authd/gen/auth/v1"
	"github.com/authd-dev/authd/internal/authdenv"
	"github.com/authd-dev/authd/internal/benchtest"
	"github.com/authd-dev/authd/password"
)

// BenchmarkLogin_SecondFactor compares, in one run at the default argon2id
// cost, a login with a second factor — Login, which answers a
// second_factor_token, then LoginSecondFactor with a TOTP code — with a
// password login and with the code check alone (code-check:
// accounts.Manager.StepUp, throttled as LoginSecondFactor is, the
// authenticator's steps computed and the step spent). second-factor
// interleaves the two logins, so that the load of a shared machine weighs
// on both alike, and reports each one's time and CPU time per login,
// ratio-to-password-login, and ratio-to-password-plus-code: how close a
// second-factor login comes to a password login plus the code check (1),
// the rest being the challenge written and spent and the second round
// trip. authd's fake clock moves 30 s on before each code, since a step's
// code is good once.
func BenchmarkLogin_SecondFactor(b *testing.B) {
	const pw = "correct horse"
	e := authdenv.New(b, func(o *authdenv.Options) { o.Hash, o.HashConcurrency = password.DefaultParams, 1 })
	e.AddUser(b, "plain", pw)
	e.AddUser(b, "enrolled", pw)
	secret, _ := e.EnrollTOTP(b, "enrolled", pw)
	code := func() string {
		e.Clock.Advance(30 * time.Second)
		c, err := totp.GenerateCode(secret, e.Clock.Now())
		if err != nil {
			b.Fatal(err)
		}
		return c
	}

	var check, checkCPU float64
	b.Run("code-check", func(b *testing.B) {
		began := benchtest.CPUTime(b)
		for b.Loop() {
			if _, err := e.Accounts.StepUp(bg, "enrolled", accounts.SecondFactor{Code: code()}, "bench", []string{"pwd"}); err != nil {
				b.Fatal(err)
			}
		}
		check, checkCPU = perCall(b, began)
	})
	b.Run("second-factor", func(b *testing.B) {
		var pwd, pwdCPU, both, bothCPU time.Duration
		passwordLogin := func() {
			start, startCPU := time.Now(), benchtest.CPUTime(b)
			if _, err := e.Client.Login(bg, &authv1.LoginRequest{Username: "plain", Password: pw}); err != nil {
				b.Fatal(err)
			}
			pwd, pwdCPU = pwd+time.Since(start), pwdCPU+benchtest.CPUTime(b)-startCPU
		}
		secondFactorLogin := func() {
			c := code()
			start, startCPU := time.Now(), benchtest.CPUTime(b)
			resp, err := e.Client.Login(bg, &authv1.LoginRequest{Username: "enrolled", Password: pw})
			if err != nil || !resp.SecondFactorRequired {
				b.Fatalf("Login = %v, %v; want second_factor_required", resp, err)
			}
			done, err := e.Client.LoginSecondFactor(bg, &authv1.LoginSecondFactorRequest{SecondFactorToken: resp.SecondFactorToken, Code: c})
			if err != nil || done.AccessToken == "" {
				b.Fatalf("LoginSecondFactor = %v, %v", done, err)
			}
			both, bothCPU = both+time.Since(start), bothCPU+benchtest.CPUTime(b)-startCPU
		}
		// Each goes first every other time: the one after an argon2id
		// hash may pay for its garbage.
		for i := 0; b.Loop(); i++ {
			if i%2 == 0 {
				passwordLogin()
				secondFactorLogin()
			} else {
				secondFactorLogin()
				passwordLogin()
			}
		}
		n := float64(b.N)
		b.ReportMetric(float64(pwd)/n, "password-ns/login")
		b.ReportMetric(float64(both)/n, "second-factor-ns/login")
		b.ReportMetric(float64(both)/float64(pwd), "ratio-to-password-login")
		b.ReportMetric(float64(bothCPU)/float64(pwdCPU), "cpu-ratio-to-password-login")
		if check > 0 { // 0 when -bench selected this one alone
			b.ReportMetric(float64(both)/(float64(pwd)+check*n), "ratio-to-password-plus-code")
			b.ReportMetric(float64(bothCPU)/(float64(pwdCPU)+checkCPU*n), "cpu-ratio-to-password-plus-code")
		}
	})
}
