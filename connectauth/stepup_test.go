package connectauth_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/grpc/codes"

	"github.com/authd-dev/authd/client"
	"github.com/authd-dev/authd/connectauth"
	examplev1 "github.com/authd-dev/authd/gen/example/v1"
	"github.com/authd-dev/authd/protect"
	"github.com/authd-dev/authd/wire"
)

// Through the client interceptor, the greeter's Transfer refused with
// STEP_UP_REQUIRED calls OnStepUpRequired once, with no Refresh at authd
// and no retry; after client.Client.StepUp with the authenticator's code
// the same session may transfer.
func TestClientInterceptor_StepUpRequired(t *testing.T) {
	for _, p := range protocols {
		t.Run(p.name, func(t *testing.T) {
			s := newSession(t, protect.Config{}, nil)
			var stepUps atomic.Int64
			c, err := client.New(bg, s.auth, client.Config{Insecure: true, Clock: s.authd.Clock,
				OnStepUpRequired: func(_ context.Context, err error) {
					if wire.Reason(err) == wire.ReasonStepUpRequired {
						stepUps.Add(1)
					}
				}})
			if err != nil {
				t.Fatal(err)
			}
			if err := c.Login(bg, "alice", "pw"); err != nil {
				t.Fatal(err)
			}
			greeter := greeterClient(s.srv, p.opt, connect.WithInterceptors(connectauth.ClientInterceptor(c)))
			transfer := func() (*connect.Response[examplev1.TransferResponse], error) {
				return greeter.Transfer(bg, connect.NewRequest(&examplev1.TransferRequest{Amount: 1200, To: "bob"}))
			}

			_, err = transfer()
			wantRefusal(t, err, codes.Unauthenticated, wire.ReasonStepUpRequired)
			if n, r := stepUps.Load(), s.auth.refreshes.Load(); n != 1 || r != 0 {
				t.Fatalf("OnStepUpRequired called %d times, %d refreshes; want 1, 0", n, r)
			}

			authenticator := s.authd.EnrollTOTP(t, "alice", "pw")
			s.authd.Clock.Advance(30 * time.Second) // ConfirmTOTP spent this step's code
			if err := c.StepUp(bg, client.TOTPCode(authenticator.Code(t))); err != nil {
				t.Fatal(err)
			}
			if resp, err := transfer(); err != nil || resp.Msg.From != "alice" || resp.Msg.Amount != 1200 {
				t.Fatalf("Transfer after StepUp = %v, %v", resp, err)
			}
			if n, r := stepUps.Load(), s.auth.refreshes.Load(); n != 1 || r != 0 {
				t.Fatalf("after StepUp: %d step-up callbacks, %d refreshes", n, r)
			}
		})
	}
}
