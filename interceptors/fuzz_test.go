package interceptors_test

import (
	"context"
	"strings"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/authd-dev/authd/authdtest/tokens"
	"github.com/authd-dev/authd/guard"
	"github.com/authd-dev/authd/interceptors"
	"github.com/authd-dev/authd/token"
	"github.com/authd-dev/authd/wire"
)

// FuzzAuthorize drives the whole verify path an interceptor runs — the
// authorization value, bearer parsing, size check, JWT decoding, signature,
// claims, type and revocation — with arbitrary input. It never panics,
// refuses with a status from the error table, and accepts nothing but the
// one real token it was seeded with.
func FuzzAuthorize(f *testing.F) {
	iss := tokens.New(f)
	good := iss.FreshAccess(f, "alice", sid)
	revokedTok := iss.FreshAccess(f, "alice", "revoked-session")
	const method = "/fuzz.Service/Call"
	icpt := interceptors.New(guard.New(iss.Verifier, guard.Config{
		Clock:   iss.Clock,
		Methods: map[string]guard.Rule{method: {Requirement: guard.Access}},
		Revocations: revocationsFunc(func(_ context.Context, c *token.Claims) (bool, error) {
			return c.SessionID == "revoked-session", nil
		}),
	})).UnaryServerInterceptor()
	info := &grpc.UnaryServerInfo{FullMethod: method}
	parts := strings.Split(good, ".")
	for _, s := range []string{
		"Bearer " + good,
		"bearer " + good,
		"Bearer " + iss.Refresh(f, "alice", sid),
		"Bearer " + iss.Expired(f, "alice", sid),
		"Bearer " + revokedTok,
		"Bearer " + parts[0] + "." + parts[1] + ".",
		"Bearer " + parts[0] + ".e30." + parts[2],
		"Bearer eyJhbGciOiJub25lIn0.e30.",
		"Bearer " + strings.Repeat("a", 9000),
		"Basic x", "", "Bearer", "Bearer  x",
	} {
		f.Add(s)
	}
	reasons := map[string]bool{
		wire.ReasonTokenMissing: true, wire.ReasonTokenInvalid: true, wire.ReasonTokenExpired: true,
		wire.ReasonWrongTokenType: true, wire.ReasonTokenRevoked: true,
	}
	f.Fuzz(func(t *testing.T, value string) {
		ctx := metadata.NewIncomingContext(bg, metadata.Pairs(wire.AuthorizationKey, value))
		var subject string
		_, err := icpt(ctx, nil, info, func(ctx context.Context, _ any) (any, error) {
			c, _ := guard.ClaimsFromContext(ctx)
			subject = c.Subject
			return nil, nil
		})
		if err == nil {
			if len(value) < 7 || !strings.EqualFold(value[:7], "bearer ") || value[7:] != good || subject != "alice" {
				t.Fatalf("accepted %q", value)
			}
			return
		}
		if status.Code(err) != codes.Unauthenticated || !reasons[wire.Reason(err)] {
			t.Fatalf("%q: %v", value, err)
		}
	})
}
