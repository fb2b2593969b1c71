package service_test

import (
	"testing"
	"time"

	"google.golang.org/grpc/codes"

	"github.com/authd-dev/authd/authdtest/tokens"
	authv1 "github.com/authd-dev/authd/gen/auth/v1"
	"github.com/authd-dev/authd/internal/authdenv"
)

// Renew in the login's own second renews (the new token has the same exp,
// times being whole seconds); only a session at its cap answers
// SESSION_CAP_REACHED.
func TestRenew_InTheLoginsSecondIsNoSessionCap(t *testing.T) {
	e := newEnv(t)
	login := e.Login(t, "alice", "correct horse")
	resp, err := e.Client.Renew(tokens.Bearer(bg, login.AccessToken), &authv1.RenewRequest{})
	if err != nil {
		t.Fatalf("Renew in the login's second: %v", err)
	}
	if resp.AccessToken == "" || resp.ExpiresIn != login.ExpiresIn {
		t.Fatalf("Renew = %v", resp)
	}
	capped := newEnv(t, func(o *authdenv.Options) { o.Session.SessionMax = time.Duration(login.ExpiresIn) * time.Second })
	capLogin := capped.Login(t, "alice", "correct horse")
	_, err = capped.Client.Renew(tokens.Bearer(bg, capLogin.AccessToken), &authv1.RenewRequest{})
	tokens.WantRefusal(t, err, codes.FailedPrecondition, "SESSION_CAP_REACHED")
}
