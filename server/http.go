package server

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/authd-dev/authd/service"
	"github.com/authd-dev/authd/token"
)

// pinger is a store that can tell whether its database answers.
type pinger interface {
	Ping(ctx context.Context) error
}

// httpMux serves the JWKS as JSON, the discovery document, liveness
// (/healthz: the process serves), readiness (/readyz: and its database
// answers) and, unless it has a listener of its own, Prometheus metrics.
func (s *Server) httpMux() http.Handler {
	mux := http.NewServeMux()
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
		if p, ok := s.store.(pinger); ok {
			ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
			defer cancel()
			if err := p.Ping(ctx); err != nil {
				s.logger.WarnContext(r.Context(), "readiness: database unreachable", "err", err)
				http.Error(w, "database unreachable", http.StatusServiceUnavailable)
				return
			}
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
func newHTTPServer(handler http.Handler, tlsConfig *tls.Config) *http.Server {
	return &http.Server{
		Handler:           handler,
		TLSConfig:         tlsConfig,
		ReadHeaderTimeout: 5 * time.Second,
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
