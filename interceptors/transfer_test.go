package interceptors_test

import (
	"maps"
	"testing"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/authd-dev/authd/authdtest/tokens"
	examplev1 "github.com/authd-dev/authd/gen/example/v1"
	"github.com/authd-dev/authd/guard"
	"github.com/authd-dev/authd/wire"
)

// The greeter's Transfer declares in greeter.proto a fresh token with a
// second factor proven within five minutes: a password-only login is asked
// to step up (STEP_UP_REQUIRED, naming acr_values aal2 and max_age 300),
// as is a second factor proven too long ago; a token that is not fresh
// hears FRESH_TOKEN_REQUIRED; a login with a second factor just now pays.
func TestGreeterTransfer_NeedsARecentSecondFactor(t *testing.T) {
	iss := tokens.New(t)
	client := newGreeter(t, iss, guard.Config{})
	start := iss.Clock.Now()
	stepUp := map[string]string{wire.MetadataACRValues: "aal2", wire.MetadataMaxAge: "300"}
	for _, tc := range []struct {
		name     string
		token    string
		reason   string
		metadata map[string]string
	}{
		{"password only", iss.FreshAccess(t, "alice", sid), wire.ReasonStepUpRequired, stepUp},
		{"second factor 10 minutes ago", iss.FreshAccess(t, "alice", sid, tokens.WithSecondFactor(), tokens.WithAuthTime(start.Add(-10*time.Minute))),
			wire.ReasonStepUpRequired, stepUp},
		{"second factor, not fresh", iss.Access(t, "alice", sid, tokens.WithSecondFactor()), notFresh, nil},
		{"second factor now", iss.FreshAccess(t, "alice", sid, tokens.WithSecondFactor()), ok, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, err := client.Transfer(tokens.Bearer(bg, tc.token), &examplev1.TransferRequest{Amount: 1200, To: "bob"})
			if tc.reason == ok {
				if err != nil || resp.From != "alice" || resp.To != "bob" || resp.Amount != 1200 {
					t.Fatalf("Transfer = %v, %v", resp, err)
				}
				return
			}
			tokens.WantRefusal(t, err, codes.Unauthenticated, tc.reason)
			details := status.Convert(err).Details()
			if len(details) != 1 {
				t.Fatalf("details = %v, want one ErrorInfo", details)
			}
			if info, isInfo := details[0].(*errdetails.ErrorInfo); !isInfo || !maps.Equal(info.GetMetadata(), tc.metadata) {
				t.Fatalf("details = %v, want an ErrorInfo with metadata %v", details, tc.metadata)
			}
		})
	}
	_, err := client.Transfer(tokens.Bearer(bg, iss.FreshAccess(t, "alice", sid, tokens.WithSecondFactor())), &examplev1.TransferRequest{To: "bob"})
	tokens.WantRefusal(t, err, codes.InvalidArgument, "")
}
