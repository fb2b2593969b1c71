package service_test

import (
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/authd-dev/authd/authdtest/tokens"
	authv1 "github.com/authd-dev/authd/gen/auth/v1"
	"github.com/authd-dev/authd/internal/authdenv"
	"github.com/authd-dev/authd/internal/benchtest"
	"github.com/authd-dev/authd/password"
	"github.com/authd-dev/authd/session"
	"github.com/authd-dev/authd/store"
	"github.com/authd-dev/authd/token"
)

// BenchmarkRefresh_Rotation refreshes as every client of a default authd
// does: rotation on, each refresh token spent once (16 sessions taken in
// turn, each refresh spending the token the previous one of its session
// was given). refresh-rotation reports its time per call as a ratio to a
// health check over the same bufconn connection, measured just before in
// the same run (ratio-to-health-check), and floor the same ratio for what
// a Refresh cannot avoid (one verification, two signatures, one committed
// conditional UPDATE) done directly.
func BenchmarkRefresh_Rotation(b *testing.B) {
	e := authdenv.New(b)
	e.AddUser(b, "alice", "correct horse")
	refreshTokens := make([]string, 16)
	for i := range refreshTokens {
		refreshTokens[i] = e.Login(b, "alice", "correct horse").RefreshToken
	}
	health := healthpb.NewHealthClient(e.Conn)
	var healthCheck, healthCheckCPU float64
	b.Run("health-check", func(b *testing.B) {
		began := benchtest.CPUTime(b)
		for b.Loop() {
			if _, err := health.Check(bg, &healthpb.HealthCheckRequest{}); err != nil {
				b.Fatal(err)
			}
		}
		healthCheck, healthCheckCPU = perCall(b, began)
	})
	b.Run("refresh-rotation", func(b *testing.B) {
		began := benchtest.CPUTime(b)
		i := 0
		for b.Loop() {
			s := i % len(refreshTokens)
			resp, err := e.Client.Refresh(tokens.Bearer(bg, refreshTokens[s]), &authv1.RefreshRequest{})
			if err != nil {
				b.Fatalf("Refresh %d: %v", i, err)
			}
			refreshTokens[s] = resp.RefreshToken
			i++
		}
		refresh, refreshCPU := perCall(b, began)
		if healthCheck > 0 { // 0 when -bench selected this one alone
			b.ReportMetric(refresh/healthCheck, "ratio-to-health-check")
			b.ReportMetric(refreshCPU/healthCheckCPU, "cpu-ratio-to-health-check")
		}
	})
	// The floor: what a Refresh with rotation cannot avoid, done directly
	// on authd's parts without gRPC: verify the refresh token, sign two
	// tokens, spend the token (the store's conditional UPDATE, committed
	// as the store does).
	floorTokens := make([]string, 16)
	for i := range floorTokens {
		floorTokens[i] = e.Login(b, "alice", "correct horse").RefreshToken
	}
	b.Run("floor", func(b *testing.B) {
		began := benchtest.CPUTime(b)
		i := 0
		for b.Loop() {
			s := i % len(floorTokens)
			claims, err := e.Verifier.Verify(bg, floorTokens[s])
			if err != nil {
				b.Fatal(err)
			}
			now := e.Clock.Now()
			next := store.Rotation{RefreshJTI: token.NewID(), RefreshIssuedAt: now, RefreshExpiresAt: claims.Expiry(),
				AccessJTI: token.NewID(), AccessIssuedAt: now, AccessExpiresAt: now.Add(session.DefaultAccessTTL)}
			access, refresh := *claims, *claims
			access.Type, access.ID = token.Access, next.AccessJTI
			refresh.ID = next.RefreshJTI
			if _, err := e.Signer.Sign(access); err != nil {
				b.Fatal(err)
			}
			if floorTokens[s], err = e.Signer.Sign(refresh); err != nil {
				b.Fatal(err)
			}
			if err := e.DB.Rotate(bg, claims.SessionID, claims.ID, next, now); err != nil {
				b.Fatal(err)
			}
			i++
		}
		floor, floorCPU := perCall(b, began)
		if healthCheck > 0 {
			b.ReportMetric(floor/healthCheck, "ratio-to-health-check")
			b.ReportMetric(floorCPU/healthCheckCPU, "cpu-ratio-to-health-check")
		}
	})
}

// BenchmarkLogin_Argon2id compares logins at the default argon2id cost with
// the hash they cannot avoid: argon2id reports the time per hash of
// password.Hasher.Verify on the stored hash, as Login calls it, and login
// the time per Login through bufconn with throttling on, as ratio-to-argon2id
// (1 would be a login costing nothing but its hash). Each runs 1 at a time
// and then p at once, p = GOMAXPROCS up to 4, over a Hasher with p slots;
// each of the p callers logs into an account of its own, so that no
// throttling rule sees more than p attempts in flight.
func BenchmarkLogin_Argon2id(b *testing.B) {
	ps := []int{1}
	if p := min(runtime.GOMAXPROCS(0), 4); p > 1 {
		ps = append(ps, p)
	}
	for _, p := range ps {
		e := authdenv.New(b, func(o *authdenv.Options) { o.Hash, o.HashConcurrency = password.DefaultParams, p })
		users := make([]string, p)
		for w := range users {
			users[w] = fmt.Sprintf("user%d", w)
			e.AddUser(b, users[w], "correct horse")
		}
		stored, err := e.DB.UserByName(bg, users[0])
		if err != nil {
			b.Fatal(err)
		}
		var hash, hashCPU float64
		b.Run(fmt.Sprintf("argon2id-%d", p), func(b *testing.B) {
			hash, hashCPU = concurrently(b, p, func(int) error {
				ok, _, err := e.Hasher.Verify(bg, "correct horse", stored.PasswordHash)
				if err == nil && !ok {
					err = fmt.Errorf("the stored hash does not verify")
				}
				return err
			})
		})
		b.Run(fmt.Sprintf("login-%d", p), func(b *testing.B) {
			login, loginCPU := concurrently(b, p, func(w int) error {
				_, err := e.Client.Login(bg, &authv1.LoginRequest{Username: users[w], Password: "correct horse"})
				return err
			})
			if hash > 0 { // 0 when -bench selected this one alone
				b.ReportMetric(login/hash, "ratio-to-argon2id")
				b.ReportMetric(loginCPU/hashCPU, "cpu-ratio-to-argon2id")
			}
		})
	}
}

// concurrently calls f b.N times from p goroutines, f(w) from the w-th,
// and returns the time and CPU time per call.
func concurrently(b *testing.B, p int, f func(w int) error) (elapsed, cpu float64) {
	began := benchtest.CPUTime(b)
	var next atomic.Int64
	var wg sync.WaitGroup
	var failed sync.Once
	var err error
	b.ResetTimer()
	for w := range p {
		wg.Go(func() {
			for next.Add(1) <= int64(b.N) {
				if e := f(w); e != nil {
					failed.Do(func() { err = e })
					next.Store(int64(b.N)) // the others stop after their current call
					return
				}
			}
		})
	}
	wg.Wait()
	b.StopTimer()
	if err != nil {
		b.Fatal(err)
	}
	return perCall(b, began)
}

// perCall returns the time and the process's CPU time (caller and authd
// together, both in this process) per call since began, and reports the
// latter as cpu-ns/op. CPU time leaves out what the wall clock adds
// waiting, SQLite's fsync on every commit above all.
func perCall(b *testing.B, began time.Duration) (elapsed, cpu float64) {
	cpu = float64(benchtest.CPUTime(b)-began) / float64(b.N)
	b.ReportMetric(cpu, "cpu-ns/op")
	return float64(b.Elapsed()) / float64(b.N), cpu
}
