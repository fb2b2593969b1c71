package interceptors

import (
	"context"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/grpc-ecosystem/go-grpc-middleware/v2/interceptors/logging"
	"google.golang.org/grpc"

	"github.com/authd-dev/authd/wire"
)

// LogCalls returns the interceptors that log each finished call to logger
// as authd logs its own: one line with the method, the code, the duration
// as a number (grpc.time_ms) and, for a refusal, its ErrorInfo reason;
// never payloads or metadata. Successful health checks and reflection —
// and the methods named in quiet ("/pkg.Service/Method"), called on a
// schedule rather than for a user — log at DEBUG; their failures keep their
// level. Chain them before the Authenticator's, so refusals are logged.
func LogCalls(logger *slog.Logger, quiet ...string) (grpc.UnaryServerInterceptor, grpc.StreamServerInterceptor) {
	opts := []logging.Option{
		logging.WithLogOnEvents(logging.FinishCall),
		// A refusal's line carries the reason a client branches on.
		logging.WithErrorFields(func(err error) logging.Fields {
			if reason := wire.Reason(err); reason != "" {
				return logging.Fields{"reason", reason}
			}
			return nil
		}),
		// A number, not the library's string, so JSON logs sum and compare.
		logging.WithDurationField(func(d time.Duration) logging.Fields {
			return logging.Fields{"grpc.time_ms", float64(d.Microseconds()) / 1000}
		}),
	}
	l := logging.LoggerFunc(func(ctx context.Context, lvl logging.Level, msg string, fields ...any) {
		if method, ok := grpc.Method(ctx); ok && lvl == logging.LevelInfo && isPoll(method, quiet) {
			lvl = logging.LevelDebug
		}
		logger.Log(ctx, slog.Level(lvl), msg, fields...)
	})
	return logging.UnaryServerInterceptor(l, opts...), logging.StreamServerInterceptor(l, opts...)
}

// isPoll reports whether a method is called by probes and tools (or is
// one of quiet) rather than on behalf of a user.
func isPoll(fullMethod string, quiet []string) bool {
	return slices.Contains(quiet, fullMethod) ||
		strings.HasPrefix(fullMethod, "/grpc.health.v1.Health/") ||
		strings.HasPrefix(fullMethod, "/grpc.reflection.v1.ServerReflection/") ||
		strings.HasPrefix(fullMethod, "/grpc.reflection.v1alpha.ServerReflection/")
}
