package protect_test

import (
	"context"
	"crypto/sha256"
	"io"
	"log/slog"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/proto"

	"github.com/authd-dev/authd/authdtest"
	"github.com/authd-dev/authd/authdtest/tokens"
	"github.com/authd-dev/authd/clock"
	"github.com/authd-dev/authd/examples/greeter"
	examplev1 "github.com/authd-dev/authd/gen/example/v1"
	"github.com/authd-dev/authd/guard"
	"github.com/authd-dev/authd/interceptors"
	"github.com/authd-dev/authd/internal/benchtest"
	"github.com/authd-dev/authd/protect"
	"github.com/authd-dev/authd/token"
	"github.com/authd-dev/authd/wire"
)

const stackUser, stackPassword = "alice", "correct horse battery staple"

// stack says which parts of the example greeter's consumer stack are on.
// shipped is the greeter as examples/greeter/cmd/greeter runs it by
// default.
type stack struct {
	logCalls    bool // interceptors.LogCalls chained before the Authenticator
	renew       bool // protect.Config.Renewal (--renew)
	poll        bool // revocation polling every 5 s (--revocation-poll); else NoRevocationPolling
	helloAccess bool // Hello declared ACCESS instead of PUBLIC (not in the shipped greeter)
}

var shipped = stack{logCalls: true, renew: true, poll: true}

// stackLogger is the greeter's logger (a text handler at INFO, as
// cmd/greeter's default --log-format), writing to io.Discard: every line
// is still built and formatted.
func stackLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// guard builds the Guard as cmd/greeter's run does, with the settings s
// turns on, against the authd of env; its poller ends with b.
func (s stack) guard(b *testing.B, env *authdtest.Env) *guard.Guard {
	b.Helper()
	cfg := protect.Config{Issuer: token.DefaultIssuer, Audience: token.DefaultIssuer, Logger: stackLogger()}
	if s.poll {
		cfg.Revocation.Interval = 5 * time.Second // --revocation-poll's default
	} else {
		cfg.NoRevocationPolling = true
	}
	cfg.Renewal = s.renew
	if s.helloAccess {
		cfg.Guard.Methods = map[string]guard.Rule{examplev1.GreeterService_Hello_FullMethodName: {Requirement: guard.Access}}
	}
	ctx, cancel := context.WithCancel(context.Background())
	b.Cleanup(cancel) // ends the poller
	g, err := protect.New(ctx, env.Conn, cfg)
	if err != nil {
		b.Fatal(err)
	}
	return g
}

// client serves the greeter behind s's stack, as cmd/greeter's run does
// (greeter.NewServer, LogCalls chained first, the system clock), over
// bufconn, and returns a client of it.
func (s stack) client(b *testing.B, env *authdtest.Env) examplev1.GreeterServiceClient {
	b.Helper()
	var opts []grpc.ServerOption
	if s.logCalls {
		logUnary, logStream := interceptors.LogCalls(stackLogger())
		opts = append(opts, grpc.ChainUnaryInterceptor(logUnary), grpc.ChainStreamInterceptor(logStream))
	}
	srv, err := greeter.NewServer(s.guard(b, env), clock.System(), opts...)
	if err != nil {
		b.Fatal(err)
	}
	return examplev1.NewGreeterServiceClient(tokens.Serve(b, srv))
}

// incomingMetadata returns the metadata gRPC hands the greeter's
// interceptors for a WhoAmI call made with ctx (the token, :authority,
// content-type, user-agent, …), so that the interceptor measured without
// gRPC reads what it reads in a call.
func incomingMetadata(b *testing.B, env *authdtest.Env, ctx context.Context) metadata.MD {
	b.Helper()
	var md metadata.MD
	capture := func(ctx context.Context, req any, _ *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		md, _ = metadata.FromIncomingContext(ctx)
		return handler(ctx, req)
	}
	srv, err := greeter.NewServer(stack{}.guard(b, env), clock.System(), grpc.ChainUnaryInterceptor(capture))
	if err != nil {
		b.Fatal(err)
	}
	if _, err := examplev1.NewGreeterServiceClient(tokens.Serve(b, srv)).WhoAmI(ctx, &examplev1.WhoAmIRequest{}); err != nil {
		b.Fatal(err)
	}
	if len(md.Get(wire.AuthorizationKey)) != 1 {
		b.Fatalf("captured metadata %v: no token", md)
	}
	return md
}

// BenchmarkConsumerStack measures what authentication adds to a call of
// the example greeter as cmd/greeter ships it: protect.New with renewal
// and revocation polling on (5 s), interceptors.LogCalls logging every call
// (text, INFO, to io.Discard) chained before the Authenticator, the system
// clock; authd runs in the process (authdtest, its fake clock set to the
// system's time so that the greeter can keep the system clock), and the
// greeter is served over bufconn. The access token comes from a real
// login, and every variant calls once before it is timed, so what is
// measured is the steady state: the verified-token cache hits, the poller
// knows the session, and the token is far from its renewal threshold.
//
// Each variant reports x-hello, its time as a multiple of hello-public
// measured before it in the same run (its last run, with -count), and
// cpu-ns/op, the CPU time the process (client, greeter and authd) used
// per call. Calls over gRPC also report the response's size (resp-B), with
// a token the token's (token-B), and x-hello-paired: their time as a
// multiple of hello-public calls to a shipped greeter of its own, made in
// batches between theirs with the timer stopped. On a shared machine a
// call over bufconn drifts by tens of percent within seconds, more than
// the gap measured here; the paired ratio is the one to subtract
// (hello-public's own is about 1, which checks the method). The whole
// stack, over gRPC:
//
//   - hello-public: Hello (PUBLIC) without a token; the baseline.
//   - whoami-access: WhoAmI (ACCESS) with the access token; the goal is
//     x-hello ≤ 1.10.
//   - hello-bearer: Hello with the same authorization header, which a
//     PUBLIC method never reads: the cost of carrying the token (client
//     metadata, HPACK, the server's metadata map). hello-bearer −
//     hello-public.
//   - hello-access: Hello declared ACCESS (Config.Guard.Methods), with
//     the token: the Authenticator's whole work inside gRPC is
//     hello-access − hello-bearer, and WhoAmI's handler and larger
//     response (resp-B) over Hello's is whoami-access − hello-access.
//     These three differences add up to whoami-access − hello-public.
//   - whoami-no-renewal, whoami-no-revocation: the shipped stack without
//     Renewal, or with NoRevocationPolling (renewal on).
//   - whoami-no-logging, hello-no-logging: without LogCalls; the log
//     line's share of the gap is (whoami-access − whoami-no-logging) −
//     (hello-public − hello-no-logging).
//
// The same parts without gRPC, which are too small to tell apart in a
// call over bufconn:
//
//   - interceptor: the shipped Authenticator's unary interceptor alone on
//     WhoAmI, the token in incoming metadata (the metadata read, the
//     Guard's Decide, the renewal check, the claims put in the context).
//   - interceptor-no-renewal: the same without renewal; the renewal check
//     is interceptor − interceptor-no-renewal.
//   - interceptor-bare: without renewal and revocation polling; the
//     revocation lookup is interceptor-no-renewal − interceptor-bare.
//   - authorize: the shipped Guard's DecideRule(ACCESS) on the token: the
//     bearer parsing, the cached verification, the type check and the
//     revocation lookup.
//   - authorize-bare: DecideRule without renewal and revocation polling:
//     the bearer parsing and the verified-token cache hit (the cache key's
//     SHA-256, the keys' generation, the map lookup). interceptor-bare −
//     authorize-bare is the metadata read, the policy lookup and the
//     claims' context.
//   - bearer: interceptors.Call alone on the metadata of a real call (the
//     authorization values read into a guard.Call; their parsing is
//     Decide's, inside authorize).
//   - sha256: the cache key alone, SHA-256 of the token.
//   - reply-hello, reply-whoami: each handler called directly (WhoAmI's
//     with the claims in its context), its response marshalled and
//     unmarshalled as gRPC's codec does on each side; reply-whoami −
//     reply-hello is the handler and response share without transport.
func BenchmarkConsumerStack(b *testing.B) {
	env := authdtest.New(b)
	// authd's tokens must verify on the greeter's system clock, as they do
	// when both run on real time: move authd's fake clock to now.
	ahead := time.Since(tokens.Start)
	if ahead <= 0 {
		b.Fatalf("the system clock (%v) is before tokens.Start (%v): the greeter's system clock would refuse authd's tokens", time.Now(), tokens.Start)
	}
	env.Clock.Advance(ahead)
	env.AddUser(b, stackUser, stackPassword)
	access := env.Login(b, stackUser, stackPassword).GetAccessToken()
	bg := context.Background()
	withToken := tokens.Bearer(bg, access)

	var hello float64
	report := func(b *testing.B) {
		if hello > 0 { // 0 when -bench selected a variant without hello-public
			b.ReportMetric(benchtest.NsPerOp(b)/hello, "x-hello")
		}
	}

	// loop times call after one untimed call (the verification, the
	// session check and gRPC's first-call setup stay out of the timing).
	// With a reference call, every pairBatch timed calls are followed, with
	// the timer stopped, by as many reference calls, and the variant's time
	// per call is reported as a multiple of the reference's (x-hello-paired):
	// a ratio that the machine's slow drifts, which move a bufconn call by
	// tens of percent over seconds, cancel out of.
	const pairBatch = 64
	loop := func(b *testing.B, call, reference func() error) {
		b.Helper()
		for _, f := range []func() error{call, reference} {
			if f == nil {
				continue
			}
			if err := f(); err != nil {
				b.Fatal(err)
			}
		}
		var refTime, refCPU time.Duration
		var refCalls, n int
		b.ReportAllocs()
		began := benchtest.CPUTime(b)
		b.ResetTimer()
		for b.Loop() {
			if err := call(); err != nil {
				b.Fatal(err)
			}
			if n++; reference == nil || n%pairBatch != 0 {
				continue
			}
			b.StopTimer()
			cpu, start := benchtest.CPUTime(b), time.Now()
			for range pairBatch {
				if err := reference(); err != nil {
					b.Fatal(err)
				}
			}
			refTime += time.Since(start)
			refCPU += benchtest.CPUTime(b) - cpu
			refCalls += pairBatch
			b.StartTimer()
		}
		b.StopTimer()
		b.ReportMetric(float64(benchtest.CPUTime(b)-began-refCPU)/float64(b.N), "cpu-ns/op")
		if refCalls > 0 {
			b.ReportMetric(benchtest.NsPerOp(b)/(float64(refTime.Nanoseconds())/float64(refCalls)), "x-hello-paired")
		}
	}
	helloCall := func(ctx context.Context, g examplev1.GreeterServiceClient) (proto.Message, error) {
		return g.Hello(ctx, &examplev1.HelloRequest{})
	}
	whoAmICall := func(ctx context.Context, g examplev1.GreeterServiceClient) (proto.Message, error) {
		return g.WhoAmI(ctx, &examplev1.WhoAmIRequest{})
	}

	// The reference of x-hello-paired: hello-public on a shipped greeter of
	// its own, the same one for every variant.
	refClient := shipped.client(b, env)
	reference := func() error {
		_, err := refClient.Hello(bg, &examplev1.HelloRequest{})
		return err
	}

	for _, v := range []struct {
		name  string
		stack stack
		token bool // the call carries `authorization: Bearer <access>`
		call  func(context.Context, examplev1.GreeterServiceClient) (proto.Message, error)
	}{
		{"hello-public", shipped, false, helloCall},
		{"whoami-access", shipped, true, whoAmICall},
		{"hello-bearer", shipped, true, helloCall},
		{"hello-access", stack{logCalls: true, renew: true, poll: true, helloAccess: true}, true, helloCall},
		{"whoami-no-renewal", stack{logCalls: true, poll: true}, true, whoAmICall},
		{"whoami-no-revocation", stack{logCalls: true, renew: true}, true, whoAmICall},
		{"whoami-no-logging", stack{renew: true, poll: true}, true, whoAmICall},
		{"hello-no-logging", stack{renew: true, poll: true}, false, helloCall},
	} {
		b.Run(v.name, func(b *testing.B) {
			g := v.stack.client(b, env)
			ctx := bg
			if v.token {
				ctx = withToken
			}
			var resp proto.Message
			loop(b, func() (err error) {
				resp, err = v.call(ctx, g)
				return err
			}, reference)
			if v.name == "hello-public" {
				hello = benchtest.NsPerOp(b)
			}
			report(b)
			b.ReportMetric(float64(proto.Size(resp)), "resp-B")
			if v.token {
				b.ReportMetric(float64(len(access)), "token-B")
			}
		})
	}

	incoming := incomingMetadata(b, env, withToken)
	interceptorOn := func(g *guard.Guard) func() error {
		icpt := interceptors.New(g).UnaryServerInterceptor()
		ctx := metadata.NewIncomingContext(bg, incoming)
		info := &grpc.UnaryServerInfo{FullMethod: examplev1.GreeterService_WhoAmI_FullMethodName}
		req := &examplev1.WhoAmIRequest{}
		handler := func(context.Context, any) (any, error) { return nil, nil }
		return func() error {
			_, err := icpt(ctx, req, info, handler)
			return err
		}
	}
	accessCall := guard.Call{Authorization: []string{"Bearer " + access}}
	accessRule := guard.Rule{Requirement: guard.Access}
	authorizeOn := func(g *guard.Guard) func() error {
		return func() error {
			_, err := g.DecideRule(bg, accessRule, accessCall)
			return err
		}
	}
	bare := stack{}
	for _, v := range []struct {
		name  string
		stack stack
		on    func(*guard.Guard) func() error
	}{
		{"interceptor", shipped, interceptorOn},
		{"interceptor-no-renewal", stack{poll: true}, interceptorOn},
		{"interceptor-bare", bare, interceptorOn},
		{"authorize", shipped, authorizeOn},
		{"authorize-bare", bare, authorizeOn},
	} {
		b.Run(v.name, func(b *testing.B) {
			loop(b, v.on(v.stack.guard(b, env)), nil)
			report(b)
		})
	}

	b.Run("bearer", func(b *testing.B) {
		ctx := metadata.NewIncomingContext(bg, incoming)
		var call guard.Call
		loop(b, func() error {
			call = interceptors.Call(ctx, examplev1.GreeterService_WhoAmI_FullMethodName)
			return nil
		}, nil)
		if len(call.Authorization) != 1 {
			b.Fatalf("no token read from %v", incoming)
		}
		report(b)
	})
	b.Run("sha256", func(b *testing.B) {
		var key [sha256.Size]byte
		loop(b, func() error {
			key = sha256.Sum256([]byte(access))
			return nil
		}, nil)
		if key == ([sha256.Size]byte{}) {
			b.Fatal("no cache key")
		}
		report(b)
	})

	g := &greeter.Greeter{Clock: clock.System()}
	for _, v := range []struct {
		name    string
		handle  func(ctx context.Context) (proto.Message, error)
		replyTo func() proto.Message
	}{
		{"reply-hello", func(ctx context.Context) (proto.Message, error) {
			return g.Hello(ctx, &examplev1.HelloRequest{})
		}, func() proto.Message { return new(examplev1.HelloResponse) }},
		{"reply-whoami", func(ctx context.Context) (proto.Message, error) {
			return g.WhoAmI(ctx, &examplev1.WhoAmIRequest{})
		}, func() proto.Message { return new(examplev1.WhoAmIResponse) }},
	} {
		b.Run(v.name, func(b *testing.B) {
			d, err := bare.guard(b, env).DecideRule(bg, accessRule, accessCall)
			if err != nil {
				b.Fatal(err)
			}
			ctx := guard.ContextWithClaims(bg, d.Claims)
			var size int
			loop(b, func() error {
				resp, err := v.handle(ctx)
				if err != nil {
					return err
				}
				wireBytes, err := proto.Marshal(resp)
				if err != nil {
					return err
				}
				size = len(wireBytes)
				return proto.Unmarshal(wireBytes, v.replyTo())
			}, nil)
			report(b)
			b.ReportMetric(float64(size), "resp-B")
		})
	}
}
