package service_test

import (
	"context"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	authv1 "github.com/authd-dev/authd/gen/auth/v1"
	"github.com/authd-dev/authd/internal/authdtest"
	"github.com/authd-dev/authd/password"
	"github.com/authd-dev/authd/service"
)

// 500 logins at once with the default argon2id cost (19 MiB each, 9.5 GiB if
// unbounded) on two hashing slots: each waits within its deadline, then
// gets RESOURCE_EXHAUSTED; memory stays bounded.
func TestLogin_500ConcurrentStayBounded(t *testing.T) {
	e := authdtest.New(t, authdtest.WithHashing(password.DefaultParams, 2))
	e.AddUser(t, "alice", "correct horse")

	var peak atomic.Uint64
	done := make(chan struct{})
	var sampler sync.WaitGroup
	sampler.Add(1)
	go func() {
		defer sampler.Done()
		var m runtime.MemStats
		for {
			runtime.ReadMemStats(&m)
			if m.HeapInuse > peak.Load() {
				peak.Store(m.HeapInuse)
			}
			select {
			case <-done:
				return
			case <-time.After(5 * time.Millisecond):
			}
		}
	}()

	codesSeen := make([]codes.Code, 500)
	var wg sync.WaitGroup
	for i := range codesSeen {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(bg, 5*time.Second)
			defer cancel()
			_, err := e.Client.Login(ctx, &authv1.LoginRequest{Username: "alice", Password: "correct horse"})
			codesSeen[i] = status.Code(err)
		}()
	}
	wg.Wait()
	close(done)
	sampler.Wait()

	var ok, busy, late int
	for _, c := range codesSeen {
		switch c {
		case codes.OK:
			ok++
		case codes.ResourceExhausted:
			busy++
		case codes.DeadlineExceeded:
			// The deadline passed before the call reached the hashing
			// queue or while its hash ran: a loaded (race-detector) run.
			late++
		default:
			t.Fatalf("a login got %v; want OK, ResourceExhausted or DeadlineExceeded", c)
		}
	}
	if ok == 0 || busy == 0 {
		t.Fatalf("%d ok, %d busy; want both", ok, busy)
	}
	if p := peak.Load(); p > 512<<20 {
		t.Fatalf("heap in use peaked at %d MiB", p>>20)
	}
	t.Logf("%d logged in, %d told to retry, %d late; heap peak %d MiB", ok, busy, late, peak.Load()>>20)
}

// Unknown user and wrong password both cost one argon2id hash: their
// latencies are compared coarsely (medians within 2x), where skipping the
// hash for unknown users would make them differ a hundredfold.
func TestLogin_UnknownUserAndWrongPasswordTakeTheSameTime(t *testing.T) {
	params := password.DefaultParams
	params.Memory = 8 << 10
	e := authdtest.New(t, authdtest.WithHashing(params, 1), authdtest.WithServiceOptions(service.WithoutThrottle()))
	e.AddUser(t, "alice", "correct horse")
	measure := func(user string) time.Duration {
		start := time.Now()
		_, err := e.Client.Login(bg, &authv1.LoginRequest{Username: user, Password: "wrong password"})
		authdtest.WantRefusal(t, err, codes.Unauthenticated, badCreds)
		return time.Since(start)
	}
	var unknown, wrong []time.Duration
	measure("alice") // warm up
	for range 15 {
		unknown = append(unknown, measure("mallory"))
		wrong = append(wrong, measure("alice"))
	}
	mu, mw := median(unknown), median(wrong)
	ratio := float64(mu) / float64(mw)
	t.Logf("median unknown user %v, wrong password %v (ratio %.2f)", mu, mw, ratio)
	if ratio < 0.5 || ratio > 2 {
		t.Fatalf("unknown user median %v vs wrong password %v: distinguishable", mu, mw)
	}
}

func median(d []time.Duration) time.Duration {
	s := slices.Clone(d)
	slices.Sort(s)
	return s[len(s)/2]
}
