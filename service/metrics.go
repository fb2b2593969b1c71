package service

import (
	"context"
	"strings"

	grpcprom "github.com/grpc-ecosystem/go-grpc-middleware/providers/prometheus"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/authd-dev/authd/wire"
)

// Metrics are authd's Prometheus metrics: go-grpc-middleware's per-method
// counters and latency histograms, and the domain counters below. Labels
// never carry user input (no usernames, no tokens).
type Metrics struct {
	Registry *prometheus.Registry
	grpc     *grpcprom.ServerMetrics

	logins       *prometheus.CounterVec // result: ok, failed, throttled, in_flight
	refreshes    *prometheus.CounterVec // result: ok, refused
	reuse        prometheus.Counter
	revocations  *prometheus.CounterVec // cause: logout, password_change, reuse
	authFailures *prometheus.CounterVec // reason: TOKEN_MISSING, …
	limitedCalls *prometheus.CounterVec // method: CheckSession, ListRevocations, BeginPasskeyLogin
}

// NewMetrics registers authd's metrics, and the Go runtime's and process's,
// in a registry of their own.
func NewMetrics() *Metrics {
	m := &Metrics{
		Registry: prometheus.NewRegistry(),
		grpc: grpcprom.NewServerMetrics(grpcprom.WithServerHandlingTimeHistogram(
			grpcprom.WithHistogramBuckets([]float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5}),
		)),
		logins: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "authd_logins_total", Help: "Login attempts by result (ok, failed, throttled, in_flight: refused while too many were being checked).",
		}, []string{"result"}),
		refreshes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "authd_refreshes_total", Help: "Refresh calls reaching the service, by result (ok, refused).",
		}, []string{"result"}),
		reuse: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "authd_refresh_reuse_detected_total", Help: "Spent refresh tokens presented after their successor was used (past the grace), or older ones: each revoked a session.",
		}),
		revocations: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "authd_session_revocations_total", Help: "Sessions revoked, by cause (logout, password_change, reuse, disabled, roles_changed, secret_rotated, admin).",
		}, []string{"cause"}),
		authFailures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "authd_auth_failures_total", Help: "Calls refused for their token, by ErrorInfo reason.",
		}, []string{"reason"}),
		limitedCalls: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "authd_public_calls_limited_total", Help: "CheckSession, ListRevocations and BeginPasskeyLogin calls refused (RESOURCE_EXHAUSTED) for coming from an address over its rate, by method.",
		}, []string{"method"}),
	}
	m.Registry.MustRegister(m.grpc, m.logins, m.refreshes, m.reuse, m.revocations, m.authFailures, m.limitedCalls,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// The counters are nil-safe so a Service without metrics needs no checks.

func (m *Metrics) login(result string) {
	if m != nil {
		m.logins.WithLabelValues(result).Inc()
	}
}

func (m *Metrics) refresh(result string) {
	if m != nil {
		m.refreshes.WithLabelValues(result).Inc()
	}
}

func (m *Metrics) limited(fullMethod string) {
	if m != nil {
		m.limitedCalls.WithLabelValues(fullMethod[strings.LastIndexByte(fullMethod, '/')+1:]).Inc()
	}
}

func (m *Metrics) reused() {
	if m != nil {
		m.reuse.Inc()
	}
}

func (m *Metrics) revoked(cause string, n int) {
	if m != nil && n > 0 {
		m.revocations.WithLabelValues(cause).Add(float64(n))
	}
}

// authFailure counts a refusal of the error table.
func (m *Metrics) authFailure(err error) {
	if m == nil || status.Code(err) != codes.Unauthenticated {
		return
	}
	if reason := wire.Reason(err); reason != "" && reason != wire.ReasonInvalidCredentials {
		m.authFailures.WithLabelValues(reason).Inc()
	}
}

// UnaryServerInterceptor and StreamServerInterceptor record per-method
// metrics and authentication failures; they go before the Guard's
// interceptors in the chain, so that they see refusals.
func (m *Metrics) UnaryServerInterceptor() grpc.UnaryServerInterceptor {
	record := m.grpc.UnaryServerInterceptor()
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		resp, err := record(ctx, req, info, handler)
		m.authFailure(err)
		return resp, err
	}
}

// StreamServerInterceptor: see UnaryServerInterceptor.
func (m *Metrics) StreamServerInterceptor() grpc.StreamServerInterceptor {
	record := m.grpc.StreamServerInterceptor()
	return func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
		err := record(srv, ss, info, handler)
		m.authFailure(err)
		return err
	}
}

// InitializeMetrics creates the per-method series of every method of srv,
// at zero.
func (m *Metrics) InitializeMetrics(srv *grpc.Server) { m.grpc.InitializeMetrics(srv) }
