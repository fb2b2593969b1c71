package connectauth_test

import (
	"context"
	"net/http"
	"testing"

	"connectrpc.com/connect"

	"github.com/authd-dev/authd/authdtest/tokens"
	"github.com/authd-dev/authd/connectauth"
	examplev1 "github.com/authd-dev/authd/gen/example/v1"
	"github.com/authd-dev/authd/guard"
	"github.com/authd-dev/authd/internal/benchtest"
	"github.com/authd-dev/authd/wire"
)

// BenchmarkUnary compares a no-op unary call to a public procedure with
// the same call to one demanding an access token (verified-token cache
// hit), both behind the Middleware and Interceptor, over HTTP/2 on
// loopback, in the Connect and gRPC protocols. Each access variant
// reports its time as a multiple of the public one of its protocol
// ("x-public"), measured just before it in the same run.
func BenchmarkUnary(b *testing.B) {
	const public, access = "/bench.v1.Noop/Public", "/bench.v1.Noop/Access"
	iss := tokens.New(b)
	authn := connectauth.New(guard.New(iss.Verifier, guard.Config{Clock: iss.Clock, Methods: map[string]guard.Rule{
		public: {Requirement: guard.Public},
		access: {Requirement: guard.Access},
	}}))
	noop := func(context.Context, *connect.Request[examplev1.HelloRequest]) (*connect.Response[examplev1.HelloResponse], error) {
		return connect.NewResponse(&examplev1.HelloResponse{}), nil
	}
	mux := http.NewServeMux()
	for _, p := range []string{public, access} {
		mux.Handle(p, connect.NewUnaryHandler(p, noop, connect.WithInterceptors(authn.Interceptor())))
	}
	srv := serve(b, authn.Middleware(mux), nil)
	tok := "Bearer " + iss.FreshAccess(b, "alice", sid)

	for _, p := range []struct {
		name string
		opt  connect.ClientOption
	}{{"connect", connect.WithClientOptions()}, {"grpc", connect.WithGRPC()}} {
		var baseline float64
		for _, procedure := range []string{public, access} {
			name := map[string]string{public: "public", access: "access"}[procedure]
			b.Run(p.name+"/"+name, func(b *testing.B) {
				client := connect.NewClient[examplev1.HelloRequest, examplev1.HelloResponse](srv.Client(), srv.URL+procedure, p.opt)
				req := connect.NewRequest(&examplev1.HelloRequest{})
				req.Header().Set(wire.AuthorizationKey, tok)
				if _, err := client.CallUnary(bg, req); err != nil { // fills the verified-token cache
					b.Fatal(err)
				}
				b.ReportAllocs()
				b.ResetTimer()
				for b.Loop() {
					if _, err := client.CallUnary(bg, req); err != nil {
						b.Fatal(err)
					}
				}
				switch {
				case procedure == public:
					baseline = benchtest.NsPerOp(b)
				case baseline > 0:
					b.ReportMetric(benchtest.NsPerOp(b)/baseline, "x-public")
				}
			})
		}
	}
}
