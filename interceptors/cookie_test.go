package interceptors_test

import (
	"net/http"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/authd-dev/authd/authdtest/tokens"
	examplev1 "github.com/authd-dev/authd/gen/example/v1"
	"github.com/authd-dev/authd/guard"
	"github.com/authd-dev/authd/wire"
)

// csrf is a CSRF value of the length authd mints.
const csrf = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFG"

// A call from a browser session through a gRPC bridge (authd's HTTP
// listener): its cookies and CSRF header arrive as metadata. The grpc-go
// adapter hands them to the Guard, and a renewal goes back as the access
// cookie, never in x-access-token.
func TestCookies_RenewalIsACookieNeverAHeader(t *testing.T) {
	iss := tokens.New(t)
	greeter := newGreeter(t, iss, guard.Config{
		Cookies: guard.DefaultCookies(),
		Renewer: renewer(iss, func(string) bool { return false }),
	})
	tok := iss.Access(t, "alice", sid)
	cookies := wire.AccessCookie + "=" + tok + "; " + wire.CSRFCookie + "=" + csrf
	iss.Clock.Advance(10 * time.Minute) // past half of the token's 15 minutes

	ctx := metadata.AppendToOutgoingContext(bg, wire.CookieKey, cookies)
	_, err := greeter.WhoAmI(ctx, &examplev1.WhoAmIRequest{})
	if status.Code(err) != codes.PermissionDenied || wire.Reason(err) != wire.ReasonCSRFTokenInvalid {
		t.Fatalf("cookie without x-csrf-token: %v, want CSRF_TOKEN_INVALID", err)
	}

	var header metadata.MD
	ctx = metadata.AppendToOutgoingContext(ctx, wire.CSRFHeader, csrf)
	resp, err := greeter.WhoAmI(ctx, &examplev1.WhoAmIRequest{}, grpc.Header(&header))
	if err != nil || resp.Subject != "alice" {
		t.Fatalf("WhoAmI by cookie = %v, %v", resp, err)
	}
	if got := header.Get(wire.RenewalHeader); len(got) != 0 {
		t.Fatalf("a cookie call got its renewal in %s: %v", wire.RenewalHeader, got)
	}
	set := header.Get(wire.SetCookieKey)
	if len(set) != 1 {
		t.Fatalf("Set-Cookie = %v, want the renewed access cookie", set)
	}
	c, err := http.ParseSetCookie(set[0])
	if err != nil || c.Name != wire.AccessCookie || c.Value == tok || !c.HttpOnly || !c.Secure || c.MaxAge != 900 {
		t.Fatalf("renewal cookie %q: want a new HttpOnly Secure access cookie for 15 minutes", set[0])
	}

	// The same token in an authorization header: the renewal in the header.
	header = nil
	if _, err := greeter.WhoAmI(tokens.Bearer(bg, tok), &examplev1.WhoAmIRequest{}, grpc.Header(&header)); err != nil {
		t.Fatal(err)
	}
	if len(header.Get(wire.RenewalHeader)) != 1 || len(header.Get(wire.SetCookieKey)) != 0 {
		t.Fatalf("bearer call's header %v: want x-access-token and no cookie", header)
	}
}
