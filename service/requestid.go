package service

import (
	"context"
	"log/slog"

	middleware "github.com/grpc-ecosystem/go-grpc-middleware/v2"
	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"

	"github.com/authd-dev/authd/token"
	"github.com/authd-dev/authd/wire"
)

type requestIDKey struct{}

// RequestID returns the request id of the call in ctx, or "". The id
// (metadata wire.RequestIDHeader) is taken from the caller when well formed,
// so it can follow a request across services, made up otherwise, and sent
// back in the response header.
func RequestID(ctx context.Context) string {
	id, _ := ctx.Value(requestIDKey{}).(string)
	return id
}

// validRequestID accepts what is safe to log and echo: 1 to 64 characters
// of letters, digits, '-', '_' and '.'.
func validRequestID(id string) bool {
	if id == "" || len(id) > 64 {
		return false
	}
	for _, r := range id {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-', r == '_', r == '.':
		default:
			return false
		}
	}
	return true
}

func withRequestID(ctx context.Context) context.Context {
	var id string
	if md, ok := metadata.FromIncomingContext(ctx); ok {
		if vals := md.Get(wire.RequestIDHeader); len(vals) == 1 && validRequestID(vals[0]) {
			id = vals[0]
		}
	}
	if id == "" {
		id = token.NewID()
	}
	_ = grpc.SetHeader(ctx, metadata.Pairs(wire.RequestIDHeader, id))
	return context.WithValue(ctx, requestIDKey{}, id)
}

func requestIDUnary(ctx context.Context, req any, _ *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	return handler(withRequestID(ctx), req)
}

func requestIDStream(srv any, ss grpc.ServerStream, _ *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
	wrapped := middleware.WrapServerStream(ss)
	wrapped.WrappedContext = withRequestID(ss.Context())
	return handler(srv, wrapped)
}

// withRequestIDs returns l adding the call's request_id to every record
// logged with its context: the call log line and the service's own lines
// alike. New and NewServer apply it to the loggers they are given; applying
// it twice changes nothing.
func withRequestIDs(l *slog.Logger) *slog.Logger {
	if _, done := l.Handler().(requestIDHandler); done {
		return l
	}
	return slog.New(requestIDHandler{l.Handler()})
}

type requestIDHandler struct{ slog.Handler }

func (h requestIDHandler) Handle(ctx context.Context, r slog.Record) error {
	if id := RequestID(ctx); id != "" {
		r.AddAttrs(slog.String("request_id", id))
	}
	return h.Handler.Handle(ctx, r)
}

func (h requestIDHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return requestIDHandler{h.Handler.WithAttrs(attrs)}
}

func (h requestIDHandler) WithGroup(name string) slog.Handler {
	return requestIDHandler{h.Handler.WithGroup(name)}
}
