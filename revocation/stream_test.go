package revocation_test

import (
	"testing"
	"time"

	"google.golang.org/grpc/codes"

	"github.com/authd-dev/authd/authdtest"
	"github.com/authd-dev/authd/examples/greeter"
	authv1 "github.com/authd-dev/authd/gen/auth/v1"
	examplev1 "github.com/authd-dev/authd/gen/example/v1"
	"github.com/authd-dev/authd/interceptors"
	"github.com/authd-dev/authd/revocation"
	"github.com/authd-dev/authd/wire"
)

// A stream a consumer opened before the user logged out ends with
// TOKEN_REVOKED once its Poller has heard of the logout: the next poll plus
// one stream recheck, not at the token's exp.
func TestPoller_EndsOpenStreamsOfARevokedSession(t *testing.T) {
	e := authdtest.New(t)
	e.AddUser(t, "alice", "pw")
	login := e.Login(t, "alice", "pw")
	poller := revocation.NewPoller(e.Conn, revocation.WithClock(e.Clock))
	if err := poller.Poll(bg); err != nil {
		t.Fatal(err)
	}
	srv, err := greeter.NewServer(e.Verifier, e.Clock, interceptors.WithRevocations(poller))
	if err != nil {
		t.Fatal(err)
	}
	g := examplev1.NewGreeterServiceClient(authdtest.Serve(t, srv))
	stream, err := g.Ticks(authdtest.Bearer(bg, login.AccessToken), &examplev1.TicksRequest{IntervalMs: 60_000})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := stream.Recv(); err != nil {
		t.Fatal(err)
	}
	if _, err := e.Client.Logout(authdtest.Bearer(bg, login.AccessToken), &authv1.LogoutRequest{}); err != nil {
		t.Fatal(err)
	}
	if err := poller.Poll(bg); err != nil {
		t.Fatal(err)
	}
	if !e.Clock.WaitForTimers(3, 10*time.Second) { // tick, expiry, revocation recheck
		t.Fatal("the stream's timers were never armed")
	}
	e.Clock.Advance(interceptors.DefaultStreamRevocationCheck)
	_, err = stream.Recv()
	authdtest.WantRefusal(t, err, codes.Unauthenticated, wire.ReasonTokenRevoked)
}
