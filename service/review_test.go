package service_test

import (
	"testing"
	"time"

	"google.golang.org/grpc/codes"

	"github.com/authd-dev/authd/authdtest/tokens"
	authv1 "github.com/authd-dev/authd/gen/auth/v1"
	"github.com/authd-dev/authd/service"
)

// BeginPasskeyLogin without a second_factor_token is public and writes a
// ceremony to the store: it is bounded per caller address, as the other
// public calls that cost authd something, so that an unauthenticated
// caller cannot fill the store with ceremonies.
func TestBeginPasskeyLogin_BoundedPerAddress(t *testing.T) {
	e := newPasskeyEnv(t)
	begin := func() error {
		_, err := e.Client.BeginPasskeyLogin(bg, &authv1.BeginPasskeyLoginRequest{})
		return err
	}
	for i := range service.BeginPasskeyLoginBurst {
		if err := begin(); err != nil {
			t.Fatalf("call %d: %v", i, err)
		}
	}
	err := begin()
	tokens.WantRefusal(t, err, codes.ResourceExhausted, "")
	if d := retryDelay(t, err); d <= 0 || d > time.Second {
		t.Errorf("RetryInfo %s, want (0, 1s]", d)
	}
	if n := limitedCalls(t, e, "BeginPasskeyLogin"); n != 1 {
		t.Errorf("authd_public_calls_limited_total{method=BeginPasskeyLogin} = %v, want 1", n)
	}
	e.Clock.Advance(time.Second)
	if err := begin(); err != nil {
		t.Fatalf("after a second: %v", err)
	}
	// Another bucket: CheckSession is not refused.
	if _, err := e.Client.CheckSession(bg, &authv1.CheckSessionRequest{Sid: "c2lk"}); err != nil {
		t.Fatalf("CheckSession: %v", err)
	}
}
