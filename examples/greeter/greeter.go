// Package greeter is a small service protected by authd's interceptors: each
// of its methods declares in greeter.proto what it needs of the caller's
// token. cmd/greeter runs it protected by protect.New (README's "Protect
// your own service" walks through examples/consumer, built the same way).
package greeter

import (
	"context"
	"fmt"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/reflection"
	"google.golang.org/grpc/status"

	"github.com/authd-dev/authd/clock"
	examplev1 "github.com/authd-dev/authd/gen/example/v1"
	"github.com/authd-dev/authd/guard"
	"github.com/authd-dev/authd/interceptors"
)

// NewServer is the whole integration: the Guard's two interceptors, the
// services, and the strict check that every method declares a
// requirement. g must make health and reflection public (protect.New's
// does). opts come first, so interceptors they chain (call logging, say)
// run before the Guard and see its refusals.
func NewServer(g *guard.Guard, clk clock.Clock, opts ...grpc.ServerOption) (*grpc.Server, error) {
	authn := interceptors.New(g)
	srv := grpc.NewServer(append(opts,
		grpc.ChainUnaryInterceptor(authn.UnaryServerInterceptor()),
		grpc.ChainStreamInterceptor(authn.StreamServerInterceptor()),
	)...)
	examplev1.RegisterGreeterServiceServer(srv, &Greeter{Clock: clk})
	healthpb.RegisterHealthServer(srv, health.NewServer())
	reflection.Register(srv)
	if err := authn.CheckServer(srv); err != nil {
		return nil, err
	}
	return srv, nil
}

// Greeter implements examplev1.GreeterServiceServer. It never checks tokens
// itself: by the time a handler runs, the interceptor has enforced the
// method's requirement.
type Greeter struct {
	examplev1.UnimplementedGreeterServiceServer
	Clock clock.Clock
}

func (g *Greeter) Hello(context.Context, *examplev1.HelloRequest) (*examplev1.HelloResponse, error) {
	return &examplev1.HelloResponse{Message: "hello, whoever you are"}, nil
}

func (g *Greeter) Greet(ctx context.Context, _ *examplev1.GreetRequest) (*examplev1.GreetResponse, error) {
	if claims, ok := guard.ClaimsFromContext(ctx); ok {
		return &examplev1.GreetResponse{Message: "hello, " + claims.Subject}, nil
	}
	return &examplev1.GreetResponse{Message: "hello, stranger"}, nil
}

func (g *Greeter) WhoAmI(ctx context.Context, _ *examplev1.WhoAmIRequest) (*examplev1.WhoAmIResponse, error) {
	claims, _ := guard.ClaimsFromContext(ctx)
	return &examplev1.WhoAmIResponse{
		Subject: claims.Subject, Fresh: claims.FreshAt(g.Clock.Now()), Sid: claims.SessionID, ExpiresAt: claims.Expiry().Unix(),
	}, nil
}

func (g *Greeter) DeleteAccount(ctx context.Context, _ *examplev1.DeleteAccountRequest) (*examplev1.DeleteAccountResponse, error) {
	claims, _ := guard.ClaimsFromContext(ctx)
	return &examplev1.DeleteAccountResponse{Message: fmt.Sprintf("account %s would be deleted now", claims.Subject)}, nil
}

func (g *Greeter) SessionInfo(ctx context.Context, _ *examplev1.SessionInfoRequest) (*examplev1.SessionInfoResponse, error) {
	claims, _ := guard.ClaimsFromContext(ctx)
	return &examplev1.SessionInfoResponse{Subject: claims.Subject, Sid: claims.SessionID}, nil
}

// Admin runs only for callers whose token holds the role "admin"; the rule
// in greeter.proto says so, and the handler just reads the claims.
func (g *Greeter) Admin(ctx context.Context, _ *examplev1.AdminRequest) (*examplev1.AdminResponse, error) {
	claims, _ := guard.ClaimsFromContext(ctx)
	return &examplev1.AdminResponse{Message: "hello, administrator " + claims.Subject, Roles: claims.Roles}, nil
}

// ReadOrders runs only for tokens granted the scope "orders:read".
func (g *Greeter) ReadOrders(ctx context.Context, _ *examplev1.ReadOrdersRequest) (*examplev1.ReadOrdersResponse, error) {
	claims, _ := guard.ClaimsFromContext(ctx)
	return &examplev1.ReadOrdersResponse{Subject: claims.Subject, Scopes: claims.Scopes(), Orders: []string{"order-1", "order-2"}}, nil
}

// Transfer runs only for a fresh token whose user proved a second factor
// within five minutes (its rule in greeter.proto): the handler echoes the
// transfer it would make, paid by the caller.
func (g *Greeter) Transfer(ctx context.Context, req *examplev1.TransferRequest) (*examplev1.TransferResponse, error) {
	if req.GetAmount() <= 0 || req.GetTo() == "" {
		return nil, status.Error(codes.InvalidArgument, "amount must be positive and to must not be empty")
	}
	claims, _ := guard.ClaimsFromContext(ctx)
	return &examplev1.TransferResponse{
		From: claims.Subject, To: req.GetTo(), Amount: req.GetAmount(),
		Message: fmt.Sprintf("%d cents would go from %s to %s now", req.GetAmount(), claims.Subject, req.GetTo()),
	}, nil
}

// Ticks sends a tick every interval until the count is reached or the
// stream's context ends, which the interceptor does when the token expires.
func (g *Greeter) Ticks(req *examplev1.TicksRequest, stream grpc.ServerStreamingServer[examplev1.TicksResponse]) error {
	if req.GetIntervalMs() < 0 || req.GetCount() < 0 {
		return status.Error(codes.InvalidArgument, "interval_ms and count must not be negative")
	}
	interval := time.Duration(req.GetIntervalMs()) * time.Millisecond
	if interval == 0 {
		interval = time.Second
	}
	claims, _ := guard.ClaimsFromContext(stream.Context())
	for n := int64(1); ; n++ {
		if err := stream.Send(&examplev1.TicksResponse{N: n, Subject: claims.Subject}); err != nil {
			return err
		}
		if n == req.GetCount() {
			return nil
		}
		tick := make(chan struct{})
		stop := g.Clock.AfterFunc(interval, func() { close(tick) })
		select {
		case <-stream.Context().Done():
			stop()
			return stream.Context().Err()
		case <-tick:
		}
	}
}
