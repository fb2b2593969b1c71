package revocation_test

import (
	"testing"
	"time"

	"google.golang.org/grpc/codes"

	"github.com/authd-dev/authd/authdtest/tokens"
	authv1 "github.com/authd-dev/authd/gen/auth/v1"
	examplev1 "github.com/authd-dev/authd/gen/example/v1"
	"github.com/authd-dev/authd/guard"
	"github.com/authd-dev/authd/internal/authdenv"
	"github.com/authd-dev/authd/revocation"
	"github.com/authd-dev/authd/wire"
)

// A stream a consumer opened before the user logged out ends with
// TOKEN_REVOKED once its Poller has heard of the logout: the next poll plus
// one stream recheck, not at the token's exp.
func TestPoller_EndsOpenStreamsOfARevokedSession(t *testing.T) {
	e := authdenv.New(t)
	e.AddUser(t, "alice", "pw")
	login := e.Login(t, "alice", "pw")
	poller := revocation.NewPoller(e.Conn, revocation.Config{Clock: e.Clock})
	if err := poller.Poll(bg); err != nil {
		t.Fatal(err)
	}
	g := serveGreeter(t, e, poller)
	stream, err := g.Ticks(tokens.Bearer(bg, login.AccessToken), &examplev1.TicksRequest{IntervalMs: 60_000})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := stream.Recv(); err != nil {
		t.Fatal(err)
	}
	if _, err := e.Client.Logout(tokens.Bearer(bg, login.AccessToken), &authv1.LogoutRequest{}); err != nil {
		t.Fatal(err)
	}
	if err := poller.Poll(bg); err != nil {
		t.Fatal(err)
	}
	if !e.Clock.WaitForTimers(3, 10*time.Second) { // tick, expiry, revocation recheck
		t.Fatal("the stream's timers were never armed")
	}
	e.Clock.Advance(guard.DefaultStreamRevocationCheck)
	_, err = stream.Recv()
	tokens.WantRefusal(t, err, codes.Unauthenticated, wire.ReasonTokenRevoked)
}
