// Command greeter runs the example GreeterService, protected by
// protect.New: tokens verified with authd's JWKS, revoked sessions polled.
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/authd-dev/authd/clock"
	"github.com/authd-dev/authd/examples/greeter"
	"github.com/authd-dev/authd/interceptors"
	"github.com/authd-dev/authd/protect"
	"github.com/authd-dev/authd/revocation/redisfeed"
	"github.com/authd-dev/authd/token"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:50052", "listen address")
	authd := flag.String("authd", "127.0.0.1:50051", "authd's gRPC address, for its JWKS")
	issuer := flag.String("issuer", token.DefaultIssuer, "required iss")
	audience := flag.String("audience", token.DefaultIssuer, "required aud")
	renew := flag.Bool("renew", true, "hand out renewed access tokens (x-access-token header) through authd's Renew")
	redisURL := flag.String("redis", "", "authd's Redis (redis://host:6379/0): hear of revocations at once instead of at the next poll")
	poll := flag.Duration("revocation-poll", 5*time.Second, "how often to fetch authd's revoked sessions (0: never, and revoked sessions' tokens work until they expire)")
	logFormat := flag.String("log-format", "text", "log format, as authd's: text or json")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var logger *slog.Logger
	switch *logFormat {
	case "text":
		logger = slog.New(slog.NewTextHandler(os.Stderr, nil))
	case "json":
		logger = slog.New(slog.NewJSONHandler(os.Stderr, nil))
	default:
		fmt.Fprintf(os.Stderr, "greeter: --log-format %q: want text or json\n", *logFormat)
		os.Exit(2)
	}
	if err := run(ctx, logger, *addr, *authd, *issuer, *audience, *renew, *poll, *redisURL); err != nil {
		fmt.Fprintln(os.Stderr, "greeter:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, logger *slog.Logger, addr, authdAddr, issuer, audience string, renew bool, poll time.Duration, redisURL string) error {
	// The loopback demo talks to authd in plaintext; use TLS credentials
	// anywhere else.
	conn, err := grpc.NewClient(authdAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return err
	}
	defer conn.Close()
	cfg := protect.Config{Issuer: issuer, Audience: audience, Logger: logger}
	switch {
	case poll <= 0:
		cfg.NoRevocationPolling = true
	case redisURL != "":
		redisOpts, err := redis.ParseURL(redisURL)
		if err != nil {
			return fmt.Errorf("--redis: %w", err)
		}
		rdb := redis.NewClient(redisOpts)
		defer rdb.Close()
		cfg.Revocation.Interval = poll
		cfg.RevocationFeed = func(ctx context.Context, nudge func()) error {
			return redisfeed.Subscribe(ctx, rdb, func(string) { nudge() })
		}
	default:
		cfg.Revocation.Interval = poll
	}
	// Renewals come from authd's Renew, which refuses them for revoked
	// sessions and at the session cap.
	cfg.Renewal = renew
	g, err := protect.New(ctx, conn, cfg)
	if err != nil {
		return fmt.Errorf("authd at %s: %w", authdAddr, err)
	}
	// One line per finished call, as authd logs its own; the limits a
	// protected service runs with (calls without a token refused before
	// their body is read, a receive limit, bounded streams and
	// handshakes).
	logUnary, logStream := interceptors.LogCalls(logger)
	opts := append(protect.ServerOptions(g, protect.Limits{}),
		grpc.ChainUnaryInterceptor(logUnary), grpc.ChainStreamInterceptor(logStream))
	srv, err := greeter.NewServer(g, clock.System(), opts...)
	if err != nil {
		return err
	}
	lis, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	logger.Info("greeter serving", "addr", lis.Addr().String(), "authd", authdAddr)
	go func() { <-ctx.Done(); srv.GracefulStop() }()
	return srv.Serve(lis)
}
