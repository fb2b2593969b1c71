package main

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"net/netip"
	"os"
	"os/signal"
	"runtime"
	"strings"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/redis/go-redis/v9"
	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/authd-dev/authd/keys"
	"github.com/authd-dev/authd/password"
	"github.com/authd-dev/authd/revocation/redisfeed"
	"github.com/authd-dev/authd/service"
	"github.com/authd-dev/authd/store"
	"github.com/authd-dev/authd/store/redisstore"
	"github.com/authd-dev/authd/token"
)

type serveConfig struct {
	storeFlags
	addr, httpAddr            string
	issuer, audience          string
	accessTTL, refreshTTL     time.Duration
	sessionMax, leeway        time.Duration
	reuseGrace                time.Duration
	rotation                  bool
	hs256SecretFile           string
	tlsCert, tlsKey, clientCA string
	logFormat                 string
	logLevel                  slog.Level
	trustedProxies            []netip.Prefix
	httpPlaintext             bool
	metricsAddr               string
	pprof                     bool
	hashFlags
	discoveryFlags
}

func serveFlags() (*flag.FlagSet, *serveConfig) {
	c := &serveConfig{}
	fs := newFlagSet("authd serve")
	c.storeFlags.register(fs)
	fs.StringVar(&c.addr, "addr", "127.0.0.1:50051", "gRPC listen address")
	fs.StringVar(&c.httpAddr, "http-addr", "", "HTTP listen address for /.well-known/jwks.json, /healthz, /readyz and /metrics (off when empty); HTTPS with --tls-cert")
	fs.BoolVar(&c.httpPlaintext, "http-plaintext", false, "serve the HTTP listeners without TLS even with --tls-cert (behind a TLS-terminating proxy)")
	fs.StringVar(&c.metricsAddr, "metrics-addr", "", "serve /metrics on this address instead of --http-addr")
	fs.BoolVar(&c.pprof, "pprof", false, "also serve Go's profiles (/debug/pprof/) on --metrics-addr, which it requires")
	fs.StringVar(&c.issuer, "issuer", token.DefaultIssuer, "iss of issued tokens, required when verifying")
	fs.StringVar(&c.audience, "audience", token.DefaultIssuer, "aud of issued tokens, required when verifying")
	fs.DurationVar(&c.accessTTL, "access-ttl", service.DefaultAccessTTL, "access-token lifetime")
	fs.DurationVar(&c.refreshTTL, "refresh-ttl", service.DefaultRefreshTTL, "refresh-token idle lifetime, restarted by each refresh")
	fs.DurationVar(&c.sessionMax, "session-max", service.DefaultSessionMax, "absolute session cap from the password login")
	fs.DurationVar(&c.leeway, "leeway", 0, "clock-skew tolerance on exp/nbf/iat (at most 60s)")
	fs.DurationVar(&c.reuseGrace, "refresh-reuse-grace", service.DefaultReuseGrace, "window in which a spent refresh token gets the same successor pair (0 = strict)")
	fs.BoolVar(&c.rotation, "refresh-rotation", true, "rotate refresh tokens on every refresh (false keeps the login's refresh token)")
	fs.StringVar(&c.hs256SecretFile, "hs256-secret-file", "", "sign and verify with HS256 using this secret (>= 32 bytes) instead of Ed25519")
	fs.StringVar(&c.tlsCert, "tls-cert", "", "TLS certificate file (PEM); with --tls-key serves gRPC over TLS")
	fs.StringVar(&c.tlsKey, "tls-key", "", "TLS private key file (PEM)")
	fs.StringVar(&c.clientCA, "client-ca", "", "CA bundle (PEM) that client certificates must chain to (mTLS)")
	fs.StringVar(&c.logFormat, "log-format", "text", "log format: text or json")
	fs.TextVar(&c.logLevel, "log-level", slog.LevelInfo, "least level logged: debug (adds health checks, reflection and consumers' polls), info, warn or error")
	fs.Func("trusted-proxies", "comma-separated CIDRs (or addresses) of proxies whose x-forwarded-for / forwarded metadata names the client for login throttling", func(v string) error {
		c.trustedProxies = nil
		for _, item := range strings.Split(v, ",") {
			if item = strings.TrimSpace(item); item == "" {
				continue
			}
			p, err := netip.ParsePrefix(item)
			if err != nil {
				addr, aerr := netip.ParseAddr(item)
				if aerr != nil {
					return fmt.Errorf("%q is neither a CIDR nor an address", item)
				}
				p = netip.PrefixFrom(addr, addr.BitLen())
			}
			c.trustedProxies = append(c.trustedProxies, p.Masked())
		}
		return nil
	})
	c.hashFlags.register(fs)
	c.discoveryFlags.register(fs)
	return fs, c
}

// hashFlags are the argon2id settings: serve checks passwords with them,
// and `authd user` hashes new ones with them.
type hashFlags struct {
	hash            password.Params
	hashConcurrency int
}

func (h *hashFlags) register(fs *flag.FlagSet) {
	h.hash = password.DefaultParams
	fs.Func("hash-memory", "argon2id memory in KiB (default 19456)", uintFlag(&h.hash.Memory))
	fs.Func("hash-iterations", "argon2id iterations (default 2)", uintFlag(&h.hash.Iterations))
	fs.IntVar(&h.hashConcurrency, "hash-concurrency", runtime.GOMAXPROCS(0), "password hashes computed at once (each holds --hash-memory)")
}

func (h *hashFlags) hasher() (*password.Hasher, error) {
	hasher, err := password.NewHasher(h.hash, h.hashConcurrency)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", errUsage, err)
	}
	return hasher, nil
}

func uintFlag(dst *uint32) func(string) error {
	return func(s string) error {
		var v uint32
		if _, err := fmt.Sscan(s, &v); err != nil {
			return err
		}
		*dst = v
		return nil
	}
}

func serve(ctx context.Context, args []string, stderr io.Writer) error {
	fs, c := serveFlags()
	positional, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(positional) > 0 {
		return fmt.Errorf("%w: serve takes no arguments, got %q", errUsage, positional)
	}
	if c.pprof && c.metricsAddr == "" {
		return fmt.Errorf("%w: --pprof needs --metrics-addr (profiles are never served beside the JWKS)", errUsage)
	}
	logger, err := newLogger(c.logFormat, c.logLevel, stderr)
	if err != nil {
		return err
	}
	// go-redis has one logger for the process: authd's.
	redis.SetLogger(redisLogger{logger})
	d, err := c.assemble(ctx, logger)
	if err != nil {
		return err
	}
	defer d.close()
	return d.run(ctx, c, logger)
}

// daemon is a running authd's parts.
type daemon struct {
	store   store.Store
	redis   *redis.Client // nil without --redis
	keys    keyPair
	ring    *keys.Ring // nil in HS256 mode
	svc     *service.Service
	metrics *service.Metrics
	srv     *grpc.Server
	health  *health.Server
	certs   *certReloader // nil without TLS
	// keyState says where the signing key came from: "created",
	// "loaded" or "hs256-secret-file".
	keyState string
}

func (d *daemon) close() {
	if d.redis != nil {
		d.redis.Close()
	}
	if d.store != nil {
		d.store.Close()
	}
}

// assemble opens Redis, the store and the keys, and builds the service and
// its gRPC server. Whatever can refuse the start (flags, TLS files, Redis,
// the database, the service's settings) is checked before the signing keys
// are opened: a start that fails creates no key.
func (c *serveConfig) assemble(ctx context.Context, logger *slog.Logger) (_ *daemon, err error) {
	d := &daemon{}
	defer func() {
		if err != nil {
			d.close()
		}
	}()
	hasher, err := c.hashFlags.hasher()
	if err != nil {
		return nil, err
	}
	if d.certs, err = c.certReloader(); err != nil {
		return nil, err
	}
	d.metrics = service.NewMetrics()
	// The service's settings are checked over a throwaway key and no
	// store (service.New only keeps it): refused now, they cost no
	// database and no key.
	probe, err := token.NewHMACKey(make([]byte, 32))
	if err != nil {
		return nil, err
	}
	if _, err := c.newService(probe, false, nil, hasher, c.serviceOptions(d, logger)); err != nil {
		return nil, err
	}
	var hmac *token.HMACKey
	if c.hs256SecretFile != "" {
		// Read before the database is opened: a bad secret file leaves
		// nothing behind.
		if hmac, err = c.hmacKey(); err != nil {
			return nil, err
		}
	}
	if d.redis, err = c.openRedis(ctx); err != nil {
		return nil, err
	}
	if d.store, err = c.openStore(ctx); err != nil {
		return nil, err
	}
	if hmac != nil {
		d.keys, d.keyState = hmac, "hs256-secret-file"
	} else if d.keys, d.ring, d.keyState, err = c.keys(ctx, d.store, logger); err != nil {
		return nil, err
	}
	if d.svc, err = c.newService(d.keys, d.ring != nil, d.store, hasher, c.serviceOptions(d, logger)); err != nil {
		return nil, err
	}
	if d.redis != nil {
		cache := d.svc.Revocations()
		err := redisfeed.Subscribe(ctx, d.redis, func(sid string) {
			if sid == redisfeed.AllSessions {
				cache.Forget()
			} else {
				cache.Forget(sid)
			}
		})
		if err != nil {
			return nil, err
		}
	}
	var serverOpts []grpc.ServerOption
	if d.certs != nil {
		serverOpts = append(serverOpts, grpc.Creds(d.certs.credentials()))
	}
	if d.srv, d.health, err = service.NewServer(d.svc, serverOpts...); err != nil {
		return nil, err
	}
	return d, nil
}

// serviceOptions are the service's settings, with what d has opened so far.
func (c *serveConfig) serviceOptions(d *daemon, logger *slog.Logger) []service.Option {
	opts := []service.Option{
		service.WithLogger(logger), service.WithMetrics(d.metrics),
		service.WithAccessTTL(c.accessTTL), service.WithRefreshTTL(c.refreshTTL), service.WithSessionMax(c.sessionMax),
		service.WithReuseGrace(c.reuseGrace), service.WithRotation(c.rotation),
		service.WithTrustedProxies(c.trustedProxies...),
	}
	if d.ring != nil {
		opts = append(opts, service.WithJWKS(d.ring))
	}
	if d.redis != nil {
		// Throttling counters shared by every instance; revocations
		// announced to the others (and theirs heard in assemble).
		rdb := d.redis
		opts = append(opts,
			service.WithThrottleCounters(redisstore.NewThrottles(rdb, "authd:")),
			service.WithRevocationFeed(func(ctx context.Context, sid string) error { return redisfeed.Publish(ctx, rdb, sid) }),
		)
	}
	return opts
}

// newService builds the service signing and verifying with keys (bounded
// by the session cap when authd's own ring holds them).
func (c *serveConfig) newService(keys keyPair, ownKeys bool, st store.Store, hasher *password.Hasher, opts []service.Option) (*service.Service, error) {
	signer, err := token.NewSigner(keys, c.issuer, []string{c.audience})
	if err != nil {
		return nil, err
	}
	vopts := []token.VerifierOption{token.WithIssuer(c.issuer), token.WithAudience(c.audience), token.WithLeeway(c.leeway)}
	if ownKeys {
		// No token authd mints outlives its session; HS256 interop keeps
		// the library's bound, since other issuers' tokens live longer.
		vopts = append(vopts, token.WithMaxLifetime(c.sessionMax+c.leeway))
	}
	verifier, err := token.NewVerifier(keys, vopts...)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", errUsage, err)
	}
	svc, err := service.New(st, signer, verifier, hasher, opts...)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", errUsage, err)
	}
	return svc, nil
}

// run serves until ctx ends, then shuts down gracefully.
func (d *daemon) run(ctx context.Context, c *serveConfig, logger *slog.Logger) error {
	lis, err := net.Listen("tcp", c.addr)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	var jwks service.JWKSource
	if d.ring != nil {
		jwks = d.ring
	}
	var tlsConfig *tls.Config
	if d.certs != nil && !c.httpPlaintext {
		tlsConfig = d.certs.httpConfig()
	}
	var servers []*http.Server
	defer func() {
		for _, srv := range servers {
			shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			_ = srv.Shutdown(shutdownCtx)
			cancel()
		}
	}()
	httpAddr, metricsAddr := "", ""
	for _, l := range []struct {
		addr    *string
		flag    string
		handler http.Handler
	}{
		{&httpAddr, c.httpAddr, httpMux(jwks, c.discovery(d.keys.Algorithm()), d.health, d.store, d.metrics, c.metricsAddr == "", logger)},
		{&metricsAddr, c.metricsAddr, metricsMux(d.metrics, c.pprof)},
	} {
		if l.flag == "" {
			continue
		}
		srv, addr, err := startHTTP(l.flag, l.handler, tlsConfig, logger)
		if err != nil {
			lis.Close()
			return err
		}
		servers, *l.addr = append(servers, srv), addr
	}
	// The handler is in place before authd says it serves: a SIGHUP from
	// then on reloads, never kills.
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	go d.maintain(ctx, hup, logger)
	kid, _ := d.keys.SigningKey()
	logger.Info("authd serving", "addr", lis.Addr().String(), "http_addr", httpAddr, "metrics_addr", metricsAddr,
		"db", c.describeStore(), "migrations", migrations(d.store),
		"alg", d.keys.Algorithm(), "signing_key", d.keyState, "kid", kid,
		"data_dir", c.dataDir, "tls", c.tlsCert != "", "redis", d.redis != nil)

	errc := make(chan error, 1)
	go func() { errc <- d.srv.Serve(lis) }()
	select {
	case err := <-errc:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	logger.Info("shutting down")
	d.health.Shutdown()
	stopped := make(chan struct{})
	go func() { d.srv.GracefulStop(); close(stopped) }()
	select {
	case <-stopped:
	case <-time.After(10 * time.Second):
		d.srv.Stop()
	}
	return nil
}

// keyReloadInterval bounds how long an instance keeps a key another
// instance or `authd keys revoke` removed, or misses one added.
const keyReloadInterval = time.Minute

// sessionPruneInterval is how often sessions past their cap are deleted.
const sessionPruneInterval = time.Hour

// maintain reloads the keys (prune, re-read) every keyReloadInterval and
// on SIGHUP, the TLS certificate on SIGHUP and when its files change, and
// deletes sessions past their cap every sessionPruneInterval. What fails
// is logged and the current keys or certificate kept.
func (d *daemon) maintain(ctx context.Context, hup <-chan os.Signal, logger *slog.Logger) {
	keys := time.NewTicker(keyReloadInterval)
	defer keys.Stop()
	certs := time.NewTicker(certPollInterval())
	defer certs.Stop()
	sessions := time.NewTicker(sessionPruneInterval)
	defer sessions.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-keys.C:
			d.reloadKeys(ctx, logger)
		case <-certs.C:
			if d.certs != nil && d.certs.changed() {
				reloadCerts(d.certs, logger)
			}
		case <-sessions.C:
			d.pruneSessions(ctx, logger)
		case <-hup:
			d.reloadKeys(ctx, logger)
			if d.certs != nil {
				reloadCerts(d.certs, logger)
			}
		}
	}
}

// reloadKeys prunes and re-reads the signing keys (none in HS256 mode),
// logging when they changed.
func (d *daemon) reloadKeys(ctx context.Context, logger *slog.Logger) {
	if d.ring == nil {
		return
	}
	before := d.ring.Generation()
	if err := d.ring.Reload(ctx); err != nil {
		logger.Error("key reload failed; keeping the current keys", "err", err)
		return
	}
	if d.ring.Generation() != before {
		kid, _ := d.ring.SigningKey()
		logger.Info("signing keys reloaded", "current_kid", kid, "keys", len(d.ring.Keys()))
	}
}

// pruneSessions deletes sessions whose cap passed more than the clock
// leeway ago: none of their tokens verifies any more.
func (d *daemon) pruneSessions(ctx context.Context, logger *slog.Logger) {
	n, err := d.store.PruneSessions(ctx, time.Now().Add(-token.MaxLeeway))
	if err != nil {
		logger.Warn("pruning sessions failed", "err", err)
		return
	}
	if n > 0 {
		logger.Info("pruned sessions past their cap", "sessions", n)
	}
}

type keyPair interface {
	token.KeySource
	token.SigningKey
}

// hmacKey reads the HS256 secret of --hs256-secret-file.
func (c *serveConfig) hmacKey() (*token.HMACKey, error) {
	secret, err := keys.ReadSecretFile(c.hs256SecretFile)
	if err != nil {
		return nil, err
	}
	key, err := token.NewHMACKey(secret)
	if err != nil {
		return nil, fmt.Errorf("--hs256-secret-file: %w", err)
	}
	return key, nil
}

// keys returns the Ed25519 ring: sealed in the shared database when there
// is one, else files in the data dir, and says whether the key was created
// or loaded.
func (c *serveConfig) keys(ctx context.Context, st store.SigningKeys, logger *slog.Logger) (keyPair, *keys.Ring, string, error) {
	backend, err := c.keyBackend(st, true)
	if err != nil {
		return nil, nil, "", err
	}
	opts := []keys.Option{keys.WithKeep(c.keyKeep()), keys.WithLogger(logger)}
	created, err := keys.NewManager(backend, opts...).Init(ctx)
	if err != nil {
		return nil, nil, "", fmt.Errorf("signing keys (refusing to start rather than replace them): %w", err)
	}
	ring, err := keys.Open(ctx, backend, opts...)
	if err != nil {
		return nil, nil, "", fmt.Errorf("signing keys (refusing to start rather than replace them): %w", err)
	}
	state := "loaded"
	if created {
		state = "created"
	}
	return ring, ring, state, nil
}

// keyKeep is how long a retired key keeps verifying.
func (c *serveConfig) keyKeep() time.Duration { return keys.Keep(c.accessTTL, c.refreshTTL) }

// certReloader returns the TLS certificate source, or nil without TLS.
func (c *serveConfig) certReloader() (*certReloader, error) {
	if c.tlsCert == "" && c.tlsKey == "" {
		if c.clientCA != "" {
			return nil, fmt.Errorf("%w: --client-ca needs --tls-cert and --tls-key", errUsage)
		}
		return nil, nil
	}
	if c.tlsCert == "" || c.tlsKey == "" {
		return nil, fmt.Errorf("%w: --tls-cert and --tls-key go together", errUsage)
	}
	return newCertReloader(c.tlsCert, c.tlsKey, c.clientCA)
}

func newLogger(format string, level slog.Level, w io.Writer) (*slog.Logger, error) {
	opts := &slog.HandlerOptions{Level: level}
	switch format {
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return nil, fmt.Errorf("%w: --log-format %q: want text or json", errUsage, format)
}

// pinger is a store that can tell whether its database answers.
type pinger interface {
	Ping(ctx context.Context) error
}

// httpMux serves the JWKS as JSON, liveness (/healthz: the process
// serves), readiness (/readyz: and its database answers) and, unless it has
// a listener of its own, Prometheus metrics.
func httpMux(jwks service.JWKSource, discovery http.Handler, hs healthpb.HealthServer, st any, metrics *service.Metrics, withMetrics bool, logger *slog.Logger) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /.well-known/jwks.json", func(w http.ResponseWriter, r *http.Request) {
		keys := []token.JWK{} // HS256 mode publishes no keys, never the secret
		if jwks != nil {
			keys = jwks.JWKS()
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "public, max-age=300")
		_ = json.NewEncoder(w).Encode(map[string]any{"keys": keys})
	})
	mux.Handle("GET /.well-known/openid-configuration", discovery) // discovery.go
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		resp, err := hs.Check(r.Context(), &healthpb.HealthCheckRequest{})
		if err != nil || resp.GetStatus() != healthpb.HealthCheckResponse_SERVING {
			http.Error(w, "not serving", http.StatusServiceUnavailable)
			return
		}
		_, _ = io.WriteString(w, "ok\n")
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		resp, err := hs.Check(r.Context(), &healthpb.HealthCheckRequest{})
		if err != nil || resp.GetStatus() != healthpb.HealthCheckResponse_SERVING {
			http.Error(w, "not serving", http.StatusServiceUnavailable)
			return
		}
		if p, ok := st.(pinger); ok {
			ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
			defer cancel()
			if err := p.Ping(ctx); err != nil {
				logger.WarnContext(r.Context(), "readiness: database unreachable", "err", err)
				http.Error(w, "database unreachable", http.StatusServiceUnavailable)
				return
			}
		}
		_, _ = io.WriteString(w, "ready\n")
	})
	if withMetrics {
		mux.Handle("GET /metrics", promhttp.HandlerFor(metrics.Registry, promhttp.HandlerOpts{}))
	}
	return mux
}

// metricsMux serves /metrics and, with withPprof, net/http/pprof's
// profiles: never on --http-addr, which JWKS consumers reach.
func metricsMux(metrics *service.Metrics, withPprof bool) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(metrics.Registry, promhttp.HandlerOpts{}))
	if withPprof {
		mux.HandleFunc("GET /debug/pprof/", pprof.Index)
		mux.HandleFunc("GET /debug/pprof/cmdline", pprof.Cmdline)
		mux.HandleFunc("GET /debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("GET /debug/pprof/symbol", pprof.Symbol)
		mux.HandleFunc("GET /debug/pprof/trace", pprof.Trace)
	}
	return mux
}

// startHTTP serves handler on addr (HTTPS when tlsConfig is set), with
// timeouts and a header bound so a slow or hostile client cannot hold
// connections or memory.
func startHTTP(addr string, handler http.Handler, tlsConfig *tls.Config, logger *slog.Logger) (*http.Server, string, error) {
	lis, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, "", fmt.Errorf("http listen: %w", err)
	}
	srv := &http.Server{
		Handler:           handler,
		TLSConfig:         tlsConfig,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    16 << 10,
	}
	go func() {
		serve := srv.Serve
		if tlsConfig != nil {
			serve = func(l net.Listener) error { return srv.ServeTLS(l, "", "") }
		}
		if err := serve(lis); err != nil && !errors.Is(err, http.ErrServerClosed) {
			logger.Error("http server", "err", err)
		}
	}()
	return srv, lis.Addr().String(), nil
}

func reloadCerts(certs *certReloader, logger *slog.Logger) {
	if err := certs.reload(); err != nil {
		logger.Error("certificate reload failed; keeping the current one", "err", err)
		return
	}
	logger.Info("TLS certificate reloaded")
}
