package service_test

import (
	"context"
	"runtime"
	"strconv"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/authd-dev/authd/authdtest/tokens"
	authv1 "github.com/authd-dev/authd/gen/auth/v1"
	"github.com/authd-dev/authd/internal/authdenv"
	"github.com/authd-dev/authd/password"
	"github.com/authd-dev/authd/store"
	"github.com/authd-dev/authd/store/sqlite"
	"github.com/authd-dev/authd/wire"
)

// BenchmarkLogin_Burst sends logins at the default argon2id cost (19 MiB
// each) to two hashing slots, 2 at once and then 500 at once (9.5 GiB if
// hashing were unbounded). Each reports its peak heap; 500 reports it as a
// ratio to 2's, measured just before in the same run (heap-ratio-to-2: a
// few while the slots bound hashing, the rest being garbage between
// collections; hundreds if they did not), and the share of logins told to
// retry (RESOURCE_EXHAUSTED, or their deadline passed) rather than queued
// without end.
func BenchmarkLogin_Burst(b *testing.B) {
	e := authdenv.New(b, func(o *authdenv.Options) { o.Hash, o.HashConcurrency = password.DefaultParams, 2 })
	e.AddUser(b, "alice", "correct horse")
	var peakOf2 float64
	for _, n := range []int{2, 500} {
		b.Run(strconv.Itoa(n), func(b *testing.B) {
			var peak uint64
			refused, logins := 0, 0
			for b.Loop() {
				p, r := burst(b, e, n)
				peak, refused, logins = max(peak, p), refused+r, logins+n
			}
			b.ReportMetric(float64(peak)/(1<<20), "peak-heap-MiB")
			b.ReportMetric(float64(refused)/float64(logins), "refused/login")
			if n == 2 {
				peakOf2 = float64(peak)
			} else if peakOf2 > 0 { // 0 when -bench selected this one alone
				b.ReportMetric(float64(peak)/peakOf2, "heap-ratio-to-2")
			}
		})
	}
}

// burst sends n logins at once, each with 5 s to answer, and returns the
// peak heap in use meanwhile and how many were refused for want of a
// hashing slot.
func burst(b *testing.B, e *authdenv.Env, n int) (peak uint64, refused int) {
	runtime.GC()
	done := make(chan struct{})
	var sampler sync.WaitGroup
	sampler.Go(func() {
		var m runtime.MemStats
		for {
			runtime.ReadMemStats(&m)
			peak = max(peak, m.HeapInuse)
			select {
			case <-done:
				return
			case <-time.After(5 * time.Millisecond):
			}
		}
	})
	codesSeen := make([]codes.Code, n)
	var wg sync.WaitGroup
	for i := range codesSeen {
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(bg, 5*time.Second)
			defer cancel()
			_, err := e.Client.Login(ctx, &authv1.LoginRequest{Username: "alice", Password: "correct horse"})
			codesSeen[i] = status.Code(err)
		})
	}
	wg.Wait()
	close(done)
	sampler.Wait()
	for _, c := range codesSeen {
		switch c {
		case codes.OK:
		case codes.ResourceExhausted, codes.DeadlineExceeded:
			refused++
		default:
			b.Fatalf("a login got %v; want OK, ResourceExhausted or DeadlineExceeded", c)
		}
	}
	return peak, refused
}

// patientStore looks users up whatever the caller's deadline, so that the
// password hasher is the first part of a login to see that it has passed.
type patientStore struct{ store.Store }

func (s patientStore) UserByName(ctx context.Context, name string) (store.User, error) {
	return s.Store.UserByName(context.WithoutCancel(ctx), name)
}

// An unknown user, a wrong password and a disabled account each cost a
// password hash. A caller whose deadline has passed gets no hashing slot
// (password.ErrBusy) and is told to retry, RESOURCE_EXHAUSTED, in all three
// cases; a login that skipped the hash would answer INVALID_CREDENTIALS at
// once, and so be told apart. In time, all three are INVALID_CREDENTIALS.
func TestLogin_UnknownUserCostsAHashAsAWrongPasswordDoes(t *testing.T) {
	e := authdenv.New(t, func(o *authdenv.Options) {
		o.HashConcurrency = 1
		o.Accounts.Unthrottled = true
		o.Store = func(db *sqlite.DB) store.Store { return patientStore{db} }
	})
	e.AddUser(t, "alice", "correct horse")
	e.AddUser(t, "dora", "correct horse")
	if err := e.DB.SetDisabled(bg, "dora", true, e.Clock.Now()); err != nil {
		t.Fatal(err)
	}
	svc := e.Service
	late, cancel := context.WithDeadline(bg, time.Now())
	defer cancel()
	for _, c := range []struct{ name, user, pw string }{
		{"unknown user", "mallory", "correct horse"},
		{"wrong password", "alice", "wrong password"},
		{"disabled account", "dora", "correct horse"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := svc.Login(late, &authv1.LoginRequest{Username: c.user, Password: c.pw})
			tokens.WantRefusal(t, err, codes.ResourceExhausted, "")
			_, err = svc.Login(bg, &authv1.LoginRequest{Username: c.user, Password: c.pw})
			tokens.WantRefusal(t, err, codes.Unauthenticated, badCreds)
		})
	}
}

// BenchmarkLogin_Refused times refused logins at the default argon2id cost:
// an unknown user should cost what a wrong password does, one hash, else
// the time tells an attacker which usernames exist. unknown-user reports
// its time per login as a ratio to wrong-password's, measured just before
// in the same run (ratio-to-wrong-password, about 1; skipping the hash
// would make it about 0.01).
func BenchmarkLogin_Refused(b *testing.B) {
	e := authdenv.New(b, func(o *authdenv.Options) {
		o.Hash, o.HashConcurrency, o.Accounts.Unthrottled = password.DefaultParams, 1, true
	})
	e.AddUser(b, "alice", "correct horse")
	refuse := func(b *testing.B, user string) float64 {
		for b.Loop() {
			_, err := e.Client.Login(bg, &authv1.LoginRequest{Username: user, Password: "wrong password"})
			if wire.Reason(err) != badCreds {
				b.Fatalf("Login(%s): %v, want %s", user, err, badCreds)
			}
		}
		return float64(b.Elapsed()) / float64(b.N)
	}
	var wrongPassword float64
	b.Run("wrong-password", func(b *testing.B) { wrongPassword = refuse(b, "alice") })
	b.Run("unknown-user", func(b *testing.B) {
		unknownUser := refuse(b, "mallory")
		if wrongPassword > 0 { // 0 when -bench selected this one alone
			b.ReportMetric(unknownUser/wrongPassword, "ratio-to-wrong-password")
		}
	})
}
