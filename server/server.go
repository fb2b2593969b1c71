package server

import (
	"context"
	"crypto/hkdf"
	"crypto/sha256"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
	"google.golang.org/grpc"
	"google.golang.org/grpc/health"

	"github.com/authd-dev/authd/accounts"
	"github.com/authd-dev/authd/clock"
	"github.com/authd-dev/authd/dpop"
	"github.com/authd-dev/authd/guard"
	"github.com/authd-dev/authd/internal/connlimit"
	"github.com/authd-dev/authd/keys"
	"github.com/authd-dev/authd/password"
	"github.com/authd-dev/authd/revocation/redisfeed"
	"github.com/authd-dev/authd/service"
	"github.com/authd-dev/authd/session"
	"github.com/authd-dev/authd/store"
	"github.com/authd-dev/authd/store/redisstore"
	"github.com/authd-dev/authd/token"
)

// Server is a running authd's parts: its store, keys, session engine,
// accounts, API, and the listeners and maintenance loops that serve them.
type Server struct {
	cfg        Config
	logger     *slog.Logger
	clock      clock.Clock
	store      store.Store
	ownStore   bool          // opened here, so closed here
	redis      *redis.Client // nil without Config.Redis
	signingKey keys.SigningKey
	ring       *keys.Ring // nil in HS256 mode
	jwks       service.JWKSource
	keyState   string // "created", "loaded" or "hs256"
	sessions   *session.Engine
	metrics    *service.Metrics
	grpc       *grpc.Server
	connect    http.Handler // AuthService over Connect and gRPC-Web, for the HTTP listener
	health     *health.Server
	certs      *certReloader // nil without TLS
	readiness  readiness
	// refusedConns counts the connections the listeners' bounds refused.
	refusedConns *prometheus.CounterVec

	keysLogged sync.Mutex // held by reloadKeys
	signingKID string     // the signing key at the last reload

	mu       sync.Mutex
	http     []*http.Server
	stop     context.CancelFunc // ends Serve
	stopped  chan struct{}      // closed when Serve has returned
	listened Listeners
}

// New opens what cfg names (Redis, the store, the signing keys) and
// builds the server; nothing listens until Run or Serve. Whatever can
// refuse the start (the settings, TLS files, Redis, the database) is
// checked before a first signing key is created. Close releases what New
// opened.
func New(ctx context.Context, cfg Config) (_ *Server, err error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg.Issuer = cfg.issuerOf()
	cfg = cfg.withConnectionDefaults()
	s := &Server{cfg: cfg, logger: cfg.Logger, clock: cfg.Clock, metrics: service.NewMetrics()}
	s.refusedConns = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "authd_connections_refused_total",
		Help: "Connections closed as soon as accepted, past --max-connections (reason total) or --max-connections-per-address (reason address), per listener.",
	}, []string{"listener", "reason"})
	s.metrics.Registry.MustRegister(s.refusedConns)
	if s.logger == nil {
		s.logger = slog.Default()
	}
	if s.clock == nil {
		s.clock = clock.System()
	}
	defer func() {
		if err != nil {
			s.Close()
		}
	}()
	hasher, err := password.NewHasher(cfg.Hash, cfg.HashConcurrency)
	if err != nil {
		return nil, err
	}
	if cfg.TLSCert != "" {
		if s.certs, err = newCertReloader(cfg.TLSCert, cfg.TLSKey, cfg.ClientCA); err != nil {
			return nil, err
		}
	}
	var hmac *token.HMACKey
	if cfg.HS256Secret != nil {
		// Checked before the database is opened: a bad secret leaves
		// nothing behind.
		if hmac, err = token.NewHMACKey(cfg.HS256Secret); err != nil {
			return nil, fmt.Errorf("--hs256-secret-file: %w", err)
		}
	}
	if err := cfg.checkPermissions(); err != nil {
		return nil, err
	}
	if s.redis, err = cfg.OpenRedis(ctx); err != nil {
		return nil, err
	}
	if s.store = cfg.Store; s.store == nil {
		if s.store, err = cfg.OpenStore(ctx); err != nil {
			return nil, err
		}
		s.ownStore = true
	}
	var keySource token.KeySource
	if hmac != nil {
		s.signingKey, keySource, s.keyState = hmac, hmac, "hs256-secret-file"
	} else {
		if err := s.openKeys(ctx); err != nil {
			return nil, err
		}
		s.signingKey, keySource, s.jwks = s.ring, s.ring, s.ring
	}
	return s, s.assemble(ctx, hasher, keySource)
}

// openKeys opens the Ed25519 ring: sealed in the shared database when
// there is one, else files in the data dir.
func (s *Server) openKeys(ctx context.Context) error {
	backend, err := s.cfg.KeyBackend(s.store, true)
	if err != nil {
		return err
	}
	opts := []keys.Option{keys.WithKeep(keys.Keep(s.cfg.AccessTTL, s.cfg.RefreshTTL)), keys.WithLogger(s.logger), keys.WithClock(s.clock)}
	created, err := keys.NewManager(backend, opts...).Init(ctx)
	if err != nil {
		return fmt.Errorf("signing keys (refusing to start rather than replace them): %w", err)
	}
	if s.ring, err = keys.Open(ctx, backend, opts...); err != nil {
		return fmt.Errorf("signing keys (refusing to start rather than replace them): %w", err)
	}
	s.signingKID, _ = s.ring.SigningKey()
	s.keyState = "loaded"
	if created {
		s.keyState = "created"
	}
	return nil
}

// assemble builds the session engine, the accounts, the Guard and the API
// over the opened store and keys.
func (s *Server) assemble(ctx context.Context, hasher *password.Hasher, keySource token.KeySource) error {
	cfg := s.cfg
	signer, err := keys.NewSigner(s.signingKey, cfg.Issuer, []string{cfg.Audience})
	if err != nil {
		return err
	}
	if cfg.MintUntypedTokens {
		signer = signer.Untyped()
	}
	vopts := []token.VerifierOption{token.WithIssuer(cfg.Issuer), token.WithAudience(cfg.Audience), token.WithLeeway(cfg.Leeway), token.WithClock(s.clock)}
	if s.ring != nil {
		// No token authd mints outlives its session; HS256 interop keeps
		// the library's bound, since other issuers' tokens live longer.
		vopts = append(vopts, token.WithMaxLifetime(cfg.SessionMax+cfg.Leeway))
	}
	if cfg.AcceptUntypedTokens || cfg.MintUntypedTokens {
		vopts = append(vopts, token.WithUntypedTokens())
	}
	verifier, err := token.NewVerifier(keySource, vopts...)
	if err != nil {
		return err
	}
	var onRevoke func(ctx context.Context, sids ...string)
	var counters store.Throttles
	if s.redis != nil {
		// Throttling counters shared by every instance; revocations
		// announced to the others, and theirs heard below.
		onRevoke = feedPublisher(s.redis, s.logger)
		counters = redisstore.NewThrottles(s.redis, "authd:")
	}
	s.sessions, err = session.New(s.store, session.Config{
		Signer: signer, AccessTTL: cfg.AccessTTL, RefreshTTL: cfg.RefreshTTL, SessionMax: cfg.SessionMax,
		ReuseGrace: cfg.RefreshReuseGrace, MaxSessions: cfg.MaxSessionsPerUser, KeepRefreshToken: !cfg.RefreshRotation, Claims: cfg.Claims,
		OnRevoke: onRevoke, Clock: s.clock,
	})
	if err != nil {
		return err
	}
	if s.redis != nil {
		engine := s.sessions
		err := redisfeed.Subscribe(ctx, s.redis, func(sid string) {
			if sid == redisfeed.AllSessions {
				engine.Forget()
			} else {
				engine.Forget(sid)
			}
		})
		if err != nil {
			return err
		}
	}
	acfg := accounts.Config{Sessions: s.sessions, Counters: counters, Logger: s.logger, Clock: s.clock, Passkeys: cfg.relyingParty()}
	if sealer, err := cfg.secretSealer(); err != nil {
		return err
	} else if sealer != nil {
		acfg.Secrets = sealer
	}
	accts := accounts.New(s.store, hasher, acfg)
	dpopCfg := dpop.Config{Clock: s.clock, RequireNonce: cfg.DPoPRequireNonce}
	if len(cfg.KeyEncryptionKey) > 0 {
		// One nonce secret for a fleet, derived from the secret every
		// instance has: a nonce from one instance works at the others.
		if dpopCfg.NonceSecret, err = hkdf.Key(sha256.New, cfg.KeyEncryptionKey, nil, "authd dpop nonces v1", 32); err != nil {
			return err
		}
	}
	g := guard.New(verifier, guard.Config{PublicHealthAndReflection: true, Revocations: s.sessions, Clock: s.clock,
		Cookies: guard.DefaultCookies(), SecondFactorRoles: cfg.SecondFactorRoles,
		DPoP: dpop.NewVerifier(dpopCfg), PublicAuthority: cfg.PublicAuthority})
	svc := service.New(service.Config{
		Sessions: s.sessions, Accounts: accts, Guard: g, JWKS: s.jwks,
		TrustedProxies: cfg.TrustedProxies, Metrics: s.metrics, Logger: s.logger, Clock: s.clock,
	})
	var opts []grpc.ServerOption
	if s.certs != nil {
		opts = append(opts, grpc.Creds(s.certs.credentials()))
	}
	opts = append(opts, grpc.ConnectionTimeout(cfg.HandshakeTimeout))
	if s.grpc, s.health, err = service.NewServer(svc, opts...); err != nil {
		return err
	}
	s.connect, err = service.NewConnectHandler(svc, s.grpc)
	return err
}

// feedPublisher announces revocations on the Redis feed; a failure is
// logged (the store stays the truth, and listeners also poll).
func feedPublisher(rdb *redis.Client, logger *slog.Logger) func(ctx context.Context, sids ...string) {
	return func(ctx context.Context, sids ...string) {
		if len(sids) == 0 {
			sids = []string{redisfeed.AllSessions}
		}
		for _, sid := range sids {
			if err := redisfeed.Publish(ctx, rdb, sid); err != nil {
				logger.WarnContext(ctx, "revocation feed: publish failed", "err", err)
			}
		}
	}
}

// Listeners are what Serve serves on; HTTP and Metrics may be nil.
type Listeners struct {
	GRPC, HTTP, Metrics net.Listener
}

// Run listens on the configured addresses, logs "authd serving" with them,
// and serves until ctx ends or Shutdown; then it stops gracefully.
func (s *Server) Run(ctx context.Context) error {
	var l Listeners
	var err error
	closeAll := func() {
		for _, lis := range []net.Listener{l.GRPC, l.HTTP, l.Metrics} {
			if lis != nil {
				lis.Close()
			}
		}
	}
	if l.GRPC, err = net.Listen("tcp", s.cfg.Addr); err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	for _, x := range []struct {
		addr string
		lis  *net.Listener
	}{{s.cfg.HTTPAddr, &l.HTTP}, {s.cfg.MetricsAddr, &l.Metrics}} {
		if x.addr == "" {
			continue
		}
		if *x.lis, err = net.Listen("tcp", x.addr); err != nil {
			closeAll()
			return fmt.Errorf("http listen: %w", err)
		}
	}
	return s.Serve(ctx, l)
}

// Serve serves on l until ctx ends or Shutdown, running the maintenance
// loops (key reloads every minute, session pruning every hour, certificate
// checks); then health goes NOT_SERVING, the HTTP listeners stop (5 s)
// and gRPC stops gracefully (10 s, then hard).
func (s *Server) Serve(ctx context.Context, l Listeners) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	s.mu.Lock()
	if s.stop != nil {
		s.mu.Unlock()
		return errors.New("server: Serve called twice")
	}
	s.stop, s.stopped, s.listened = cancel, make(chan struct{}), l
	s.mu.Unlock()
	defer close(s.stopped)

	for _, x := range []struct {
		lis     net.Listener
		handler func() http.Handler
		name    string
	}{{l.HTTP, s.httpMux, "http"}, {l.Metrics, s.metricsMux, "metrics"}} {
		if x.lis == nil {
			continue
		}
		// A config of its own each: serving TLS writes its NextProtos.
		var tlsConfig *tls.Config
		if s.certs != nil && !s.cfg.HTTPPlaintext {
			tlsConfig = s.certs.httpConfig()
		}
		srv := newHTTPServer(x.handler(), tlsConfig, s.cfg.HandshakeTimeout)
		s.http = append(s.http, srv)
		go serveHTTP(srv, s.bounded(x.lis, x.name), s.logger)
	}
	go s.maintain(ctx)
	kid, _ := s.signingKey.SigningKey()
	s.logger.Info("authd serving", "addr", addrOf(l.GRPC), "http_addr", addrOf(l.HTTP), "metrics_addr", addrOf(l.Metrics),
		"db", s.cfg.describeStore(), "migrations", migrations(s.store),
		"alg", s.signingKey.Algorithm(), "signing_key", s.keyState, "kid", kid,
		"data_dir", s.cfg.DataDir, "tls", s.certs != nil, "redis", s.redis != nil, "issuer", s.cfg.Issuer)

	errc := make(chan error, 1)
	grpcLis := s.bounded(l.GRPC, "grpc")
	go func() { errc <- s.grpc.Serve(grpcLis) }()
	select {
	case err := <-errc:
		s.stopHTTP()
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	s.logger.Info("shutting down")
	s.health.Shutdown()
	s.stopHTTP()
	stopped := make(chan struct{})
	go func() { s.grpc.GracefulStop(); close(stopped) }()
	select {
	case <-stopped:
	case <-time.After(10 * time.Second):
		s.grpc.Stop()
	}
	return nil
}

// bounded wraps a listener in the connection bounds
// (Config.MaxConnections, Config.MaxConnectionsPerAddress); connections
// refused are counted in authd_connections_refused_total.
func (s *Server) bounded(l net.Listener, name string) net.Listener {
	return connlimit.New(l, connlimit.Config{
		Max: s.cfg.MaxConnections, PerAddress: s.cfg.MaxConnectionsPerAddress,
		Refused: func(reason string) { s.refusedConns.WithLabelValues(name, reason).Inc() },
	})
}

func addrOf(l net.Listener) string {
	if l == nil {
		return ""
	}
	return l.Addr().String()
}

func (s *Server) stopHTTP() {
	for _, srv := range s.http {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_ = srv.Shutdown(ctx)
		cancel()
	}
}

// Shutdown stops Serve gracefully and waits for it to return, or for ctx.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	stop, stopped := s.stop, s.stopped
	s.mu.Unlock()
	if stop == nil {
		return nil
	}
	stop()
	select {
	case <-stopped:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Close releases what New opened: Redis and the store (not an embedder's
// Config.Store).
func (s *Server) Close() error {
	var errs []error
	if s.redis != nil {
		errs = append(errs, s.redis.Close())
	}
	if s.store != nil && s.ownStore {
		errs = append(errs, s.store.Close())
	}
	return errors.Join(errs...)
}
