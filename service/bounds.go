package service

import (
	"context"
	"net"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/tap"

	"github.com/authd-dev/authd/clock"
	authv1 "github.com/authd-dev/authd/gen/auth/v1"
	"github.com/authd-dev/authd/internal/ttlcache"
	"github.com/authd-dev/authd/wire"
)

// MaxRequestSize is the largest request message authd reads (16 KiB):
// grpc-go refuses a longer one with RESOURCE_EXHAUSTED ("received message
// larger than max") from its length prefix, before reading it, let alone
// any interceptor. The largest legitimate request is a Verify of a token
// of token.MaxLength (8 KiB) bytes; a CreateUser with the longest username
// and password and the most, longest roles is under 4 KiB
// (TestMaxRequestSize_FitsTheLargestLegitimateRequests builds each).
const MaxRequestSize = 16 << 10

// Flow-control windows: with no message over MaxRequestSize, a stream
// needs no more than 64 KiB in flight, and a connection no more than
// 1 MiB; fixed windows also keep grpc-go from growing them (up to 16 MiB
// per connection) for a client that sends fast.
const (
	streamWindow     = 64 << 10
	connectionWindow = 1 << 20
)

// Bounds of the public, unauthenticated reads that consumers poll: each
// caller address (as login throttling reads it, through trusted proxies)
// gets a token bucket of its own per method. A consumer calls CheckSession
// once per session it meets (sessions appear no faster than logins, which
// password hashing bounds) and ListRevocations once per poll, a page at a
// time; the bursts let one start up with a long list or many sessions.
const (
	CheckSessionRate     = 200 // per second and address
	CheckSessionBurst    = 2000
	ListRevocationsRate  = 50
	ListRevocationsBurst = 500
)

// BeginPasskeyLogin is public and, without a second_factor_token, needs
// nothing of its caller, yet stores a ceremony for CeremonyTTL (and until
// the hourly prune): without a bound any caller could fill the store. A
// person begins one ceremony per login; the burst covers a NAT's users.
const (
	BeginPasskeyLoginRate  = 10 // per second and address
	BeginPasskeyLoginBurst = 100
)

// MaxHealthWatches and MaxHealthWatchesPerAddress bound the health Watch
// streams open at once, in all and per peer address: each holds a
// goroutine for as long as the caller likes, and the method is public.
// Past them Watch is RESOURCE_EXHAUSTED; Check always answers.
const (
	MaxHealthWatches           = 1000
	MaxHealthWatchesPerAddress = 16
)

// ErrTooManyPublicCalls: an address called CheckSession,
// ListRevocations or BeginPasskeyLogin faster than its bucket allows; RetryInfo says when to
// try again.
var ErrTooManyPublicCalls = wire.NewError(codes.ResourceExhausted, "", "too many calls of this method from this address")

// ErrTooManyWatches: the health Watch streams are at their bound.
var ErrTooManyWatches = wire.NewError(codes.ResourceExhausted, "", "too many health Watch streams open: ask Check instead")

// notLiveFor is how long a CheckSession answer of "not live" is kept: a
// session that is unknown, revoked or past its cap never becomes live
// again, so the answer is final; the bound only frees the memory.
const notLiveFor = time.Minute

// maxTracked bounds the addresses tracked by a limiter, and the sids
// remembered as not live.
const maxTracked = 100000

// publicBounds bounds CheckSession, ListRevocations and
// BeginPasskeyLogin: a tap handle that refuses the calls over their
// address's rate before they are read, and an interceptor that remembers sessions found not live. What the tap
// refuses reaches neither call logging nor the per-method metrics, so a
// flood costs no log line per call: the refusals are counted in
// authd_public_calls_limited_total, and logged at most once a minute
// (refusalLogEvery), with how many there were.
type publicBounds struct {
	svc     *Service
	check   *peerLimiter
	list    *peerLimiter
	passkey *peerLimiter
	notLive *ttlcache.Cache[string, struct{}]

	logMu   sync.Mutex
	logged  time.Time // of the last line about refusals
	refused int       // refusals since
}

// refusalLogEvery is how often refusals of the public bounds are logged.
const refusalLogEvery = time.Minute

func newPublicBounds(svc *Service) *publicBounds {
	clk := svc.cfg.Clock
	return &publicBounds{
		svc:     svc,
		check:   newPeerLimiter(CheckSessionRate, CheckSessionBurst, clk),
		list:    newPeerLimiter(ListRevocationsRate, ListRevocationsBurst, clk),
		passkey: newPeerLimiter(BeginPasskeyLoginRate, BeginPasskeyLoginBurst, clk),
		notLive: ttlcache.New[string, struct{}](maxTracked),
	}
}

// tap refuses a CheckSession, ListRevocations or BeginPasskeyLogin call
// from an address over its rate as the call's headers arrive (grpc.InTapHandle): before a
// stream, a goroutine or a byte of its body, so that a flood costs authd
// as little as a refusal can. The call's context holds its peer and
// metadata already, so the address is read as login throttling reads it.
func (b *publicBounds) tap(ctx context.Context, info *tap.Info) (context.Context, error) {
	var limiter *peerLimiter
	switch info.FullMethodName {
	case authv1.AuthService_CheckSession_FullMethodName:
		limiter = b.check
	case authv1.AuthService_ListRevocations_FullMethodName:
		limiter = b.list
	case authv1.AuthService_BeginPasskeyLogin_FullMethodName:
		limiter = b.passkey
	default:
		return ctx, nil
	}
	addr := b.svc.clientAddress(ctx)
	if ok, wait := limiter.allow(addr); !ok {
		b.svc.cfg.Metrics.limited(info.FullMethodName)
		b.logRefusal(ctx, info.FullMethodName, addr)
		return ctx, wire.StatusError(ErrTooManyPublicCalls.Detail(ErrTooManyPublicCalls.Message, nil, wait))
	}
	return ctx, nil
}

// unary answers a CheckSession for a session already found not live
// without asking the store again.
func (b *publicBounds) unary(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	check, isCheck := req.(*authv1.CheckSessionRequest)
	if !isCheck || info.FullMethod != authv1.AuthService_CheckSession_FullMethodName {
		return handler(ctx, req)
	}
	now := b.svc.cfg.Clock.Now()
	if _, known := b.notLive.Get(check.GetSid(), now); known {
		return &authv1.CheckSessionResponse{}, nil
	}
	resp, err := handler(ctx, req)
	if r, ok := resp.(*authv1.CheckSessionResponse); ok && err == nil && !r.GetLive() {
		b.notLive.Put(check.GetSid(), struct{}{}, now.Add(notLiveFor), now)
	}
	return resp, err
}

// logRefusal logs a refusal if none was logged for refusalLogEvery, with
// the number refused since the last line.
func (b *publicBounds) logRefusal(ctx context.Context, method, addr string) {
	now := b.svc.cfg.Clock.Now()
	b.logMu.Lock()
	b.refused++
	if !b.logged.IsZero() && now.Sub(b.logged) < refusalLogEvery {
		b.logMu.Unlock()
		return
	}
	n := b.refused
	b.logged, b.refused = now, 0
	b.logMu.Unlock()
	b.svc.cfg.Logger.WarnContext(ctx, "public calls over their rate refused (authd_public_calls_limited_total counts them all)",
		"method", method, "address", addr, "refused_since_last_line", n)
}

// peerLimiter is a token bucket per key: rate tokens a second, up to
// burst. It tracks at most maxTracked keys, forgetting full buckets
// first.
type peerLimiter struct {
	rate, burst float64
	clock       clock.Clock
	mu          sync.Mutex
	peers       map[string]*bucket
}

type bucket struct {
	tokens float64
	at     time.Time
}

func newPeerLimiter(rate, burst int, clk clock.Clock) *peerLimiter {
	return &peerLimiter{rate: float64(rate), burst: float64(burst), clock: clk, peers: map[string]*bucket{}}
}

// allow takes a token of key's bucket, or says how long until there is
// one.
func (l *peerLimiter) allow(key string) (bool, time.Duration) {
	now := l.clock.Now()
	l.mu.Lock()
	defer l.mu.Unlock()
	b, ok := l.peers[key]
	if !ok {
		if len(l.peers) >= maxTracked {
			l.prune(now)
		}
		b = &bucket{tokens: l.burst, at: now}
		l.peers[key] = b
	}
	if elapsed := now.Sub(b.at); elapsed > 0 {
		b.tokens = min(l.burst, b.tokens+elapsed.Seconds()*l.rate)
		b.at = now
	}
	if b.tokens >= 1 {
		b.tokens--
		return true, 0
	}
	return false, time.Duration((1 - b.tokens) / l.rate * float64(time.Second))
}

// prune forgets the buckets that have refilled (a new one is full too),
// and, if that frees too little, about a tenth of the others.
func (l *peerLimiter) prune(now time.Time) {
	for k, b := range l.peers {
		if b.tokens+now.Sub(b.at).Seconds()*l.rate >= l.burst {
			delete(l.peers, k)
		}
	}
	for k := range l.peers {
		if len(l.peers) < maxTracked-maxTracked/10 {
			break
		}
		delete(l.peers, k)
	}
}

// boundedHealth is gRPC health with Watch bounded (MaxHealthWatches,
// MaxHealthWatchesPerAddress); Check and List are the health server's.
type boundedHealth struct {
	*health.Server
	mu      sync.Mutex
	total   int
	perPeer map[string]int
}

func newBoundedHealth(hs *health.Server) *boundedHealth {
	return &boundedHealth{Server: hs, perPeer: map[string]int{}}
}

func (h *boundedHealth) Watch(req *healthpb.HealthCheckRequest, stream healthpb.Health_WatchServer) error {
	addr := peerHost(stream.Context())
	h.mu.Lock()
	if h.total >= MaxHealthWatches || h.perPeer[addr] >= MaxHealthWatchesPerAddress {
		h.mu.Unlock()
		return wire.StatusError(ErrTooManyWatches)
	}
	h.total++
	h.perPeer[addr]++
	h.mu.Unlock()
	defer func() {
		h.mu.Lock()
		h.total--
		if h.perPeer[addr]--; h.perPeer[addr] == 0 {
			delete(h.perPeer, addr)
		}
		h.mu.Unlock()
	}()
	return h.Server.Watch(req, stream)
}

// peerHost is the host of the call's peer address: the connection's,
// never what forwarding metadata claims, since a Watch holds the
// connection's resources.
func peerHost(ctx context.Context) string {
	p, ok := peer.FromContext(ctx)
	if !ok || p.Addr == nil {
		return "unknown"
	}
	if host, _, err := net.SplitHostPort(p.Addr.String()); err == nil {
		return host
	}
	return p.Addr.String()
}
