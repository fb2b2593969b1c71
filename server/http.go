package server

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	authv1 "github.com/authd-dev/authd/gen/auth/v1"
	"github.com/authd-dev/authd/service"
	"github.com/authd-dev/authd/token"
)

// pinger is a store that can tell whether its database answers.
type pinger interface {
	Ping(ctx context.Context) error
}

// writeProber is a store that can tell whether its database can write
// (store/sqlite and store/postgres are).
type writeProber interface {
	ProbeWrite(ctx context.Context) error
}

// Bounds of the readiness check: each probe of the store is given
// readinessTimeout, and its answer is kept readinessTTL, so that however
// often /readyz is asked (it is public) the store sees at most one probe
// per readinessTTL.
const (
	readinessTimeout = 2 * time.Second
	readinessTTL     = 2 * time.Second
)

// readiness is the last answer of the store's probe.
type readiness struct {
	mu      sync.Mutex // held while probing: one probe at a time
	checked time.Time
	err     error
}

// ready reports whether the store answers and can write: a ping, then a
// write that changes nothing, each bounded by readinessTimeout; the answer
// is reused for readinessTTL.
func (s *Server) ready(ctx context.Context) error {
	s.readiness.mu.Lock()
	defer s.readiness.mu.Unlock()
	now := s.clock.Now()
	if !s.readiness.checked.IsZero() && !now.Before(s.readiness.checked) && now.Sub(s.readiness.checked) < readinessTTL {
		return s.readiness.err
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), readinessTimeout)
	defer cancel()
	var err error
	if p, ok := s.store.(pinger); ok {
		if perr := p.Ping(ctx); perr != nil {
			err = fmt.Errorf("database unreachable: %w", perr)
		}
	}
	if w, ok := s.store.(writeProber); ok && err == nil {
		if werr := w.ProbeWrite(ctx); werr != nil {
			err = fmt.Errorf("database cannot write: %w", werr)
		}
	}
	s.readiness.checked, s.readiness.err = s.clock.Now(), err
	return err
}

// httpMux serves AuthService over Connect and gRPC-Web for browsers (at
// its gRPC paths, behind CORS), the JWKS as JSON, the discovery document,
// liveness (/healthz: the process serves), readiness (/readyz: and its
// database answers and can write) and, unless it has a listener of its
// own, Prometheus metrics.
func (s *Server) httpMux() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/"+authv1.AuthService_ServiceDesc.ServiceName+"/", withCORS(s.cfg.CORSOrigins, s.connect))
	mux.HandleFunc("GET /.well-known/jwks.json", func(w http.ResponseWriter, r *http.Request) {
		keys := []token.JWK{} // HS256 mode publishes no keys, never the secret
		if s.jwks != nil {
			keys = s.jwks.JWKS()
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "public, max-age=300")
		_ = json.NewEncoder(w).Encode(map[string]any{"keys": keys})
	})
	mux.Handle("GET /.well-known/openid-configuration", discovery(s.cfg.Issuer, s.cfg.PublicURL, s.signingKey.Algorithm()))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		if !s.serving(r.Context()) {
			http.Error(w, "not serving", http.StatusServiceUnavailable)
			return
		}
		_, _ = io.WriteString(w, "ok\n")
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		if !s.serving(r.Context()) {
			http.Error(w, "not serving", http.StatusServiceUnavailable)
			return
		}
		if err := s.ready(r.Context()); err != nil {
			s.logger.WarnContext(r.Context(), "readiness: not ready", "err", err)
			msg, _, _ := strings.Cut(err.Error(), ":")
			http.Error(w, msg, http.StatusServiceUnavailable)
			return
		}
		_, _ = io.WriteString(w, "ready\n")
	})
	if s.cfg.MetricsAddr == "" {
		mux.Handle("GET /metrics", metricsHandler(s.metrics))
	}
	return mux
}

// serving reports whether gRPC health says SERVING.
func (s *Server) serving(ctx context.Context) bool {
	resp, err := s.health.Check(ctx, &healthpb.HealthCheckRequest{})
	return err == nil && resp.GetStatus() == healthpb.HealthCheckResponse_SERVING
}

func metricsHandler(m *service.Metrics) http.Handler {
	return promhttp.HandlerFor(m.Registry, promhttp.HandlerOpts{})
}

// metricsMux serves /metrics and, with PProf, net/http/pprof's profiles:
// never on HTTPAddr, which JWKS consumers reach. /debug/pprof/cmdline is
// not among them: authd's command line may hold a secret (a database
// password in --db), and no profile needs it.
func (s *Server) metricsMux() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", metricsHandler(s.metrics))
	if s.cfg.PProf {
		mux.HandleFunc("GET /debug/pprof/", pprof.Index)
		mux.HandleFunc("GET /debug/pprof/cmdline", func(w http.ResponseWriter, r *http.Request) {
			http.Error(w, "not served: authd's command line may hold secrets", http.StatusNotFound)
		})
		mux.HandleFunc("GET /debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("GET /debug/pprof/symbol", pprof.Symbol)
		mux.HandleFunc("GET /debug/pprof/trace", pprof.Trace)
	}
	return mux
}

// newHTTPServer serves handler (HTTPS when tlsConfig is set), with timeouts
// and a header bound so a slow or hostile client cannot hold connections
// or memory.
// The TLS handshake is bounded by the least of the timeouts, so by
// handshake too.
func newHTTPServer(handler http.Handler, tlsConfig *tls.Config, handshake time.Duration) *http.Server {
	return &http.Server{
		Handler:           handler,
		TLSConfig:         tlsConfig,
		ReadHeaderTimeout: handshake,
		ReadTimeout:       10 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    16 << 10,
	}
}

// serveHTTP serves srv on lis until it is shut down.
func serveHTTP(srv *http.Server, lis net.Listener, logger *slog.Logger) {
	serve := srv.Serve
	if srv.TLSConfig != nil {
		serve = func(l net.Listener) error { return srv.ServeTLS(l, "", "") }
	}
	if err := serve(lis); err != nil && !errors.Is(err, http.ErrServerClosed) {
		logger.Error("http server", "err", err)
	}
}
