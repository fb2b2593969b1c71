package service

import (
	"context"
	"fmt"
	"time"

	"github.com/grpc-ecosystem/go-grpc-middleware/v2/interceptors/recovery"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/reflection"
	"google.golang.org/grpc/status"

	authv1 "github.com/authd-dev/authd/gen/auth/v1"
	"github.com/authd-dev/authd/interceptors"
)

// MaxHeaderListSize caps the metadata a caller may send (16 KiB): enough for
// an 8 KiB token, refused by the transport before any interceptor runs.
const MaxHeaderListSize = 16 << 10

// MaxConcurrentStreams bounds the calls one connection has open at once.
const MaxConcurrentStreams = 1000

// NewServer returns the gRPC server of the service: AuthService and
// AdminService behind request ids, call logging (to the service's logger,
// never payloads or metadata), panic recovery, metrics, the bounds of the
// public polls (CheckSessionRate, ListRevocationsRate) and the service's
// Guard, with gRPC health (Watch bounded: MaxHealthWatches) and
// reflection, public. No request is read past MaxRequestSize. The server
// has a tap handle (grpc.InTapHandle), so opts must not set one. opts are added to the
// server's (TLS credentials). It refuses to build a server on which any
// method declares no requirement.
func NewServer(svc *Service, opts ...grpc.ServerOption) (*grpc.Server, *health.Server, error) {
	logger, g := svc.cfg.Logger, svc.guard
	recover := recovery.WithRecoveryHandlerContext(func(ctx context.Context, p any) error {
		logger.ErrorContext(ctx, "panic in handler", "panic", fmt.Sprint(p))
		return status.Error(codes.Internal, "internal error")
	})
	// authd's consumers poll these on a schedule: DEBUG when they succeed.
	logUnary, logStream := interceptors.LogCalls(logger,
		authv1.AuthService_ListRevocations_FullMethodName, authv1.AuthService_CheckSession_FullMethodName)
	// Order: request id (so every log line has it), call logging, panic
	// recovery, metrics (which see refusals), then the Guard.
	unary := []grpc.UnaryServerInterceptor{requestIDUnary, logUnary, recovery.UnaryServerInterceptor(recover)}
	stream := []grpc.StreamServerInterceptor{requestIDStream, logStream, recovery.StreamServerInterceptor(recover)}
	metrics := svc.cfg.Metrics
	if metrics != nil {
		unary, stream = append(unary, metrics.UnaryServerInterceptor()), append(stream, metrics.StreamServerInterceptor())
	}
	authn := interceptors.New(g)
	bounds := newPublicBounds(svc)
	svc.bounds = bounds
	unary = append(unary, bounds.unary)
	opts = append([]grpc.ServerOption{
		grpc.MaxHeaderListSize(MaxHeaderListSize),
		// No request is read past MaxRequestSize, whoever sends it.
		grpc.MaxRecvMsgSize(MaxRequestSize),
		// Public polls over their address's rate, refused unread.
		grpc.InTapHandle(bounds.tap),
		grpc.InitialWindowSize(streamWindow),
		grpc.InitialConnWindowSize(connectionWindow),
		// Clients may not ping more often than this (a ping flood is
		// answered with GOAWAY); idle connections are closed; each
		// connection gets a bounded number of concurrent calls.
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{MinTime: 10 * time.Second, PermitWithoutStream: true}),
		grpc.KeepaliveParams(keepalive.ServerParameters{MaxConnectionIdle: 15 * time.Minute, Time: 2 * time.Minute, Timeout: 20 * time.Second}),
		grpc.MaxConcurrentStreams(MaxConcurrentStreams),
		grpc.ChainUnaryInterceptor(append(unary, authn.UnaryServerInterceptor())...),
		grpc.ChainStreamInterceptor(append(stream, authn.StreamServerInterceptor())...),
	}, opts...)
	srv := grpc.NewServer(opts...)
	svc.Register(srv)
	hs := health.NewServer()
	healthpb.RegisterHealthServer(srv, newBoundedHealth(hs))
	reflection.Register(srv)
	if err := authn.CheckServer(srv); err != nil {
		return nil, nil, err
	}
	if metrics != nil {
		metrics.InitializeMetrics(srv)
	}
	return srv, hs, nil
}
