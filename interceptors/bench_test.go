package interceptors_test

import (
	"context"
	"strings"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"

	"github.com/authd-dev/authd/authdtest/tokens"
	"github.com/authd-dev/authd/dpop"
	examplev1 "github.com/authd-dev/authd/gen/example/v1"
	"github.com/authd-dev/authd/guard"
	"github.com/authd-dev/authd/interceptors"
	"github.com/authd-dev/authd/internal/benchtest"
	"github.com/authd-dev/authd/token"
	"github.com/authd-dev/authd/wire"
)

// noopDesc is a service with one unary method that does nothing.
var noopDesc = &grpc.ServiceDesc{
	ServiceName: "bench.Noop",
	HandlerType: (*any)(nil),
	Methods: []grpc.MethodDesc{{
		MethodName: "Call",
		Handler: func(_ any, ctx context.Context, dec func(any) error, icpt grpc.UnaryServerInterceptor) (any, error) {
			in := new(examplev1.HelloRequest)
			if err := dec(in); err != nil {
				return nil, err
			}
			handler := func(context.Context, any) (any, error) { return &examplev1.HelloResponse{}, nil }
			if icpt == nil {
				return handler(ctx, in)
			}
			return icpt(ctx, in, &grpc.UnaryServerInfo{FullMethod: "/bench.Noop/Call"}, handler)
		},
	}},
}

// benchCall measures one unary call over bufconn with the server options and
// outgoing context given.
func benchCall(b *testing.B, ctx context.Context, opts ...grpc.ServerOption) {
	srv := grpc.NewServer(opts...)
	srv.RegisterService(noopDesc, struct{}{})
	conn := tokens.Serve(b, srv)
	in, out := &examplev1.HelloRequest{}, &examplev1.HelloResponse{}
	if err := conn.Invoke(ctx, "/bench.Noop/Call", in, out); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if err := conn.Invoke(ctx, "/bench.Noop/Call", in, out); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkUnary compares a no-op unary call without interceptors to the
// same call demanding an access token: verified-token cache hit, and a cold
// verification every call (cache off), for Ed25519 and HS256.
func BenchmarkUnary(b *testing.B) {
	// The unprotected call runs first; each protected variant reports its
	// time as a multiple of it ("x-unprotected"), measured in the same run.
	var baseline float64
	b.Run("unprotected", func(b *testing.B) {
		benchCall(b, context.Background())
		baseline = benchtest.NsPerOp(b)
	})
	for _, mode := range []struct {
		name  string
		opts  []tokens.Option
		cache int
	}{
		{"access/cache-hit/EdDSA", nil, 10000},
		{"access/cold/EdDSA", nil, -1},
		{"access/cache-hit/HS256", []tokens.Option{tokens.WithHS256([]byte(strings.Repeat("k", 32)))}, 10000},
		{"access/cold/HS256", []tokens.Option{tokens.WithHS256([]byte(strings.Repeat("k", 32)))}, -1},
	} {
		b.Run(mode.name, func(b *testing.B) {
			iss := tokens.New(b, mode.opts...)
			access := iss.FreshAccess(b, "alice", sid)
			authn := interceptors.New(guard.New(iss.Verifier, guard.Config{
				Clock:     iss.Clock,
				CacheSize: mode.cache,
				Methods:   map[string]guard.Rule{"/bench.Noop/Call": {Requirement: guard.Access}},
			}))
			benchCall(b, tokens.Bearer(context.Background(), access), grpc.UnaryInterceptor(authn.UnaryServerInterceptor()))
			if baseline > 0 {
				b.ReportMetric(benchtest.NsPerOp(b)/baseline, "x-unprotected")
			}
		})
	}
}

// BenchmarkAuthorize measures the Guard's check alone, without gRPC.
func BenchmarkAuthorize(b *testing.B) {
	for _, mode := range []struct {
		name  string
		cache int
	}{{"cache-hit", 10000}, {"cold", -1}} {
		b.Run(mode.name, func(b *testing.B) {
			iss := tokens.New(b)
			access := iss.FreshAccess(b, "alice", sid)
			g := guard.New(iss.Verifier, guard.Config{Clock: iss.Clock, CacheSize: mode.cache})
			ctx := context.Background()
			rule, call := guard.Rule{Requirement: guard.Access}, guard.Call{Authorization: []string{"Bearer " + access}}
			b.ReportAllocs()
			for b.Loop() {
				if _, err := g.DecideRule(ctx, rule, call); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// benchInterceptor measures the unary interceptor alone on bench.Noop/Call,
// the call carrying `authorization: Bearer access`.
func benchInterceptor(b *testing.B, authn *interceptors.Authenticator, access string) {
	ctx := metadata.NewIncomingContext(context.Background(), metadata.Pairs(wire.AuthorizationKey, "Bearer "+access))
	icpt := authn.UnaryServerInterceptor()
	info := &grpc.UnaryServerInfo{FullMethod: "/bench.Noop/Call"}
	handler := func(context.Context, any) (any, error) { return nil, nil }
	if _, err := icpt(ctx, nil, info, handler); err != nil { // fills the verified-token cache
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if _, err := icpt(ctx, nil, info, handler); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkRule compares a method with a rule (any_role and all_scopes,
// both satisfied) to the same method demanding a plain access token, on a
// verified-token cache hit, with the same token: the interceptor alone,
// then a whole call over bufconn. Each rule variant reports its time as a
// multiple of the access variant of its path ("x-access"), measured just
// before it in the same run.
func BenchmarkRule(b *testing.B) {
	rule := guard.Rule{AnyRole: []string{"support", "admin"}, AllScopes: []string{"orders:read", "orders:write"}}
	for _, path := range []struct {
		name string
		run  func(b *testing.B, authn *interceptors.Authenticator, access string)
	}{
		{"interceptor", benchInterceptor},
		{"bufconn", func(b *testing.B, authn *interceptors.Authenticator, access string) {
			benchCall(b, tokens.Bearer(context.Background(), access), grpc.UnaryInterceptor(authn.UnaryServerInterceptor()))
		}},
	} {
		var baseline float64
		for _, mode := range []struct {
			name string
			decl guard.Rule
		}{
			{"access", guard.Rule{Requirement: guard.Access}},
			{"rule", rule},
		} {
			b.Run(path.name+"/"+mode.name, func(b *testing.B) {
				iss := tokens.New(b)
				c := iss.Claims(token.Access, "alice", sid)
				c.Roles, c.Scope = []string{"user", "admin"}, "profile orders:read orders:write"
				access := iss.Sign(b, c)
				g := guard.New(iss.Verifier, guard.Config{Clock: iss.Clock, Methods: map[string]guard.Rule{"/bench.Noop/Call": mode.decl}})
				path.run(b, interceptors.New(g), access)
				switch {
				case mode.name == "access":
					baseline = benchtest.NsPerOp(b)
				case baseline > 0:
					b.ReportMetric(benchtest.NsPerOp(b)/baseline, "x-access")
				}
			})
		}
	}
}

// BenchmarkUnary_DPoP compares a call with a DPoP-bound access token and
// a proof to the same call with a bearer token, both verified-token cache
// hits, over bufconn through the interceptors: what a proof costs the
// server (parsing, one ES256 or Ed25519 verification, the replay cache),
// reported as a multiple of the bearer call of the same run
// ("x-bearer"). Proofs are signed before the timer starts: signing is the
// client's cost (dpop's BenchmarkVerify measures both alone).
func BenchmarkUnary_DPoP(b *testing.B) {
	var baseline float64
	b.Run("bearer", func(b *testing.B) {
		iss := tokens.New(b)
		conn := serveBench(b, iss, 0)
		ctx := tokens.Bearer(context.Background(), iss.FreshAccess(b, "alice", sid))
		ctxs := make([]context.Context, b.N)
		for i := range ctxs {
			ctxs[i] = ctx
		}
		invokeEach(b, conn, ctxs)
		baseline = benchtest.NsPerOp(b)
	})
	for _, alg := range []string{dpop.ES256, dpop.EdDSA} {
		b.Run("dpop/"+alg, func(b *testing.B) {
			iss := tokens.New(b)
			conn := serveBench(b, iss, b.N+1)
			key, err := dpop.NewKey()
			if alg == dpop.EdDSA {
				key, err = dpop.NewEd25519Key()
			}
			if err != nil {
				b.Fatal(err)
			}
			tok := boundAccess(b, iss, key)
			ctxs := make([]context.Context, b.N+1)
			for i := range ctxs {
				ctxs[i] = withProof(b, iss, key, "/bench.Noop/Call", tok, "")
			}
			invokeEach(b, conn, ctxs)
			if baseline > 0 {
				b.ReportMetric(benchtest.NsPerOp(b)/baseline, "x-bearer")
			}
		})
	}
}

// serveBench serves bench.Noop/Call, demanding an access token, behind
// the interceptors of a Guard taking DPoP proofs (a replay cache of
// replays entries; 0: the default).
func serveBench(b *testing.B, iss *tokens.Issuer, replays int) *grpc.ClientConn {
	g := guard.New(iss.Verifier, guard.Config{Clock: iss.Clock, Methods: map[string]guard.Rule{"/bench.Noop/Call": {Requirement: guard.Access}},
		DPoP: dpop.NewVerifier(dpop.Config{Clock: iss.Clock, ReplayCacheSize: replays})})
	srv := grpc.NewServer(grpc.UnaryInterceptor(interceptors.New(g).UnaryServerInterceptor()))
	srv.RegisterService(noopDesc, struct{}{})
	return tokens.Serve(b, srv)
}

// invokeEach calls bench.Noop/Call once with ctxs[0] (which fills the
// verified-token cache), then b.N times with the others, timed.
func invokeEach(b *testing.B, conn *grpc.ClientConn, ctxs []context.Context) {
	in, out := &examplev1.HelloRequest{}, &examplev1.HelloResponse{}
	if err := conn.Invoke(ctxs[0], "/bench.Noop/Call", in, out); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 1; i < len(ctxs); i++ {
		if err := conn.Invoke(ctxs[i], "/bench.Noop/Call", in, out); err != nil {
			b.Fatal(err)
		}
	}
}
