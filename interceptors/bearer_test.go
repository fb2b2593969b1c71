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

// subjectVerifier accepts any token as an access token whose subject is the
// token itself, so that a handler sees what the Guard parsed out of the
// authorization metadata.
type subjectVerifier struct{}

func (subjectVerifier) Verify(_ context.Context, raw string) (*token.Claims, error) {
	return &token.Claims{Type: token.Access, Subject: raw}, nil
}

// The methods of the bearer tests: one needing an access token, one
// optional.
const (
	bearerAccess   = "/test.Bearer/Access"
	bearerOptional = "/test.Bearer/Optional"
)

// bearerInterceptor is the unary interceptor of a Guard verifying with
// subjectVerifier, without a cache.
func bearerInterceptor() grpc.UnaryServerInterceptor {
	return interceptors.New(guard.New(subjectVerifier{}, guard.Config{
		CacheSize: -1,
		Methods: map[string]guard.Rule{
			bearerAccess:   {Requirement: guard.Access},
			bearerOptional: {Requirement: guard.Optional},
		},
	})).UnaryServerInterceptor()
}

// bearerCall runs icpt on method for a call carrying values as its
// authorization metadata (none when nil), and returns the token the
// handler's claims hold ("" without claims) and whether the handler ran.
func bearerCall(icpt grpc.UnaryServerInterceptor, method string, values []string) (tok string, ran bool, err error) {
	ctx := bg
	if values != nil {
		ctx = metadata.NewIncomingContext(bg, metadata.MD{wire.AuthorizationKey: values})
	}
	_, err = icpt(ctx, nil, &grpc.UnaryServerInfo{FullMethod: method}, func(ctx context.Context, _ any) (any, error) {
		ran = true
		if c, ok := guard.ClaimsFromContext(ctx); ok {
			tok = c.Subject
		}
		return nil, nil
	})
	return tok, ran, err
}

// Exactly one "Bearer <token>" value is a credential: anything else is
// TOKEN_MISSING, and only no token at all lets an OPTIONAL method run
// anonymously.
func TestBearerParsing(t *testing.T) {
	icpt := bearerInterceptor()
	for _, tc := range []struct {
		name    string
		values  []string
		want    string
		noToken bool
	}{
		{"absent", nil, "", true},
		{"empty value", []string{""}, "", true},
		{"bearer", []string{"Bearer abc.def.ghi"}, "abc.def.ghi", false},
		{"lower-case scheme", []string{"bearer abc"}, "abc", false},
		{"upper-case scheme", []string{"BEARER abc"}, "abc", false},
		{"two values", []string{"Bearer a", "Bearer b"}, "", false},
		{"basic", []string{"Basic YWxhZGRpbjpvcGVuc2VzYW1l"}, "", false},
		{"no token", []string{"Bearer "}, "", false},
		{"scheme only", []string{"Bearer"}, "", false},
		{"two spaces", []string{"Bearer  abc"}, "", false},
		{"trailing space", []string{"Bearer abc "}, "", false},
		{"tab", []string{"Bearer\tabc"}, "", false},
		{"tab in token", []string{"Bearer ab\tc"}, "", false},
		{"bare token", []string{"abc.def.ghi"}, "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, method := range []string{bearerAccess, bearerOptional} {
				got, ran, err := bearerCall(icpt, method, tc.values)
				switch {
				case tc.want != "":
					if err != nil || got != tc.want || !ran {
						t.Fatalf("%s: token %q, handler ran %v, %v; want %q", method, got, ran, err, tc.want)
					}
				case tc.noToken && method == bearerOptional:
					if err != nil || got != "" || !ran {
						t.Fatalf("%s without a token: token %q, handler ran %v, %v; want an anonymous call", method, got, ran, err)
					}
				default:
					tokens.WantRefusal(t, err, codes.Unauthenticated, wire.ReasonTokenMissing)
					if ran {
						t.Fatalf("%s: the handler ran", method)
					}
				}
			}
		})
	}
}

// FuzzBearer: any metadata value parses without panic, and whatever comes out
// as a token has no white space and came after a Bearer scheme.
func FuzzBearer(f *testing.F) {
	for _, s := range []string{"Bearer abc", "bearer a.b.c", "Basic x", "", " ", "Bearer  x", "Bearer\x00x", "Bearer \xff"} {
		f.Add(s, "")
	}
	f.Add("Bearer a", "Bearer b")
	icpt := bearerInterceptor()
	f.Fuzz(func(t *testing.T, first, second string) {
		values := []string{first}
		if second != "" {
			values = append(values, second)
		}
		tok, ran, err := bearerCall(icpt, bearerAccess, values)
		if err != nil {
			if status.Code(err) != codes.Unauthenticated || wire.Reason(err) != wire.ReasonTokenMissing || ran {
				t.Fatalf("%q: %v (handler ran: %v), want TOKEN_MISSING", values, err, ran)
			}
			return
		}
		if len(values) != 1 || tok == "" || strings.ContainsAny(tok, " \t\r\n") || len(first) < 8 ||
			!strings.EqualFold(first[:7], "bearer ") || first[7:] != tok {
			t.Fatalf("%q accepted as %q", values, tok)
		}
	})
}
