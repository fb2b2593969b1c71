package interceptors_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/authd-dev/authd/authdtest/tokens"
	"github.com/authd-dev/authd/examples/greeter"
	examplev1 "github.com/authd-dev/authd/gen/example/v1"
	"github.com/authd-dev/authd/guard"
	"github.com/authd-dev/authd/interceptors"
)

// LogCalls writes one JSON line per finished call as authd does: a
// refusal carries its reason, the duration is a number, and successful
// health checks (and the quiet methods) are DEBUG, not INFO.
func TestLogCalls(t *testing.T) {
	iss := tokens.New(t)
	var buf tokens.LogBuffer
	logger := slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	unary, stream := interceptors.LogCalls(logger, "/example.v1.GreeterService/Hello")
	gd := guard.New(iss.Verifier, guard.Config{Clock: iss.Clock, PublicHealthAndReflection: true})
	srv, err := greeter.NewServer(gd, iss.Clock, grpc.ChainUnaryInterceptor(unary), grpc.ChainStreamInterceptor(stream))
	if err != nil {
		t.Fatal(err)
	}
	conn := tokens.Serve(t, srv)
	ctx := context.Background()
	g := examplev1.NewGreeterServiceClient(conn)
	_, err = g.WhoAmI(ctx, &examplev1.WhoAmIRequest{})
	tokens.WantRefusal(t, err, codes.Unauthenticated, "TOKEN_MISSING")
	if _, err := g.Hello(ctx, &examplev1.HelloRequest{}); err != nil {
		t.Fatal(err)
	}
	if _, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{}); err != nil {
		t.Fatal(err)
	}
	lines := map[string]map[string]any{}
	for _, line := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("not JSON: %q", line)
		}
		lines[rec["grpc.method"].(string)] = rec
	}
	who := lines["WhoAmI"]
	if who["level"] != "INFO" || who["reason"] != "TOKEN_MISSING" || who["grpc.code"] != "Unauthenticated" {
		t.Errorf("the refusal's line: %v", who)
	}
	if _, isNumber := who["grpc.time_ms"].(float64); !isNumber {
		t.Errorf("grpc.time_ms is %T, want a number", who["grpc.time_ms"])
	}
	for _, quiet := range []string{"Hello", "Check"} {
		if lines[quiet]["level"] != "DEBUG" {
			t.Errorf("%s logged at %v, want DEBUG", quiet, lines[quiet]["level"])
		}
	}
}
