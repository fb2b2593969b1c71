package revocation

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"google.golang.org/grpc"

	"github.com/authd-dev/authd/clock"
	authv1 "github.com/authd-dev/authd/gen/auth/v1"
	"github.com/authd-dev/authd/internal/flight"
	"github.com/authd-dev/authd/token"
)

// Defaults of Config.
const (
	// DefaultPollInterval is how often a Poller asks authd.
	DefaultPollInterval = 5 * time.Second
	// DefaultMaxStaleness is how old a Poller's list may get, when polls
	// fail, before calls fail closed.
	DefaultMaxStaleness = time.Minute
	// DefaultTimeout bounds one poll, and one CheckSession.
	DefaultTimeout = 10 * time.Second
)

// Config is how a Poller polls; the zero value is the default.
type Config struct {
	// Interval is how often authd's revocation list is fetched (0:
	// DefaultPollInterval): a revoked session's tokens are refused within
	// about one interval.
	Interval time.Duration
	// MaxStaleness is how old the list may get, when polls fail, before
	// every check fails closed (0: DefaultMaxStaleness).
	MaxStaleness time.Duration
	// Timeout bounds one poll and one CheckSession (0: DefaultTimeout). A
	// CheckSession runs detached from the call that asked, so that other
	// calls can share it; no call waits past its own deadline.
	Timeout time.Duration
	// PageSize is the page asked of authd (0: authd's largest).
	PageSize int32
	// Clock is the time source (nil: the system clock).
	Clock clock.Clock
}

// ErrStale: the Poller's list could not be refreshed within the staleness
// limit. Calls fail closed.
var ErrStale = errors.New("revocation list is stale")

// Poller is the revocation check of a service that verifies tokens with authd's
// JWKS: it keeps the list of revoked sessions, polling
// AuthService.ListRevocations every interval, so a revoked session's tokens
// are refused within about one interval. A session it has not met yet is
// checked once with AuthService.CheckSession, so a token whose session
// authd does not know (forged with a stolen key) is refused as authd
// refuses it; the answer is remembered until the session's cap. When no
// poll has succeeded for the staleness limit, or a session cannot be
// checked, it fails closed: calls get Unavailable until authd answers
// again.
type Poller struct {
	client   authv1.AuthServiceClient
	clock    clock.Clock
	interval time.Duration
	maxStale time.Duration
	overlap  time.Duration
	pageSize int32
	timeout  time.Duration

	nudge   chan struct{} // a poll wanted now (see Nudge)
	pollMu  sync.Mutex    // one poll at a time
	mu      sync.RWMutex
	revoked map[string]time.Time       // sid -> session cap
	live    map[string]liveSession     // sid -> as CheckSession said
	since   int64                      // next poll's since
	polled  time.Time                  // last complete poll
	checks  flight.Group[*liveSession] // one CheckSession per unknown sid at a time
}

// maxKnownSessions bounds the sessions a Poller remembers as live; past it
// they are forgotten and checked again.
const maxKnownSessions = 100000

// NewPoller returns a poller reading authd over conn. Call Poll once at
// startup (to fail fast), then Run in a goroutine.
func NewPoller(conn grpc.ClientConnInterface, cfg Config) *Poller {
	if cfg.Clock == nil {
		cfg.Clock = clock.System()
	}
	return &Poller{
		client:   authv1.NewAuthServiceClient(conn),
		clock:    cfg.Clock,
		interval: orDefault(cfg.Interval, DefaultPollInterval),
		maxStale: orDefault(cfg.MaxStaleness, DefaultMaxStaleness),
		pageSize: cfg.PageSize,
		// Revocations committed concurrently, or by an authd whose clock is
		// a little behind, may carry a time before the last answer's.
		overlap: time.Minute,
		timeout: orDefault(cfg.Timeout, DefaultTimeout),
		revoked: map[string]time.Time{},
		live:    map[string]liveSession{},
		nudge:   make(chan struct{}, 1),
	}
}

// liveSession is what CheckSession said of a live session: its cap, and
// whom its tokens must name.
type liveSession struct {
	until   time.Time
	subject string
	roles   []string
	scopes  []string
}

// admits reports whether c can be a token of the session: the subject
// authd gave, for an access token the same roles (as a set), scopes among
// those granted. An authd older than CheckSession's subject gives none:
// then only the session is checked.
func (l liveSession) admits(c *token.Claims) bool {
	return l.subject == "" || c.Names(l.subject, l.roles, l.scopes)
}

// Revoked reports whether the session of c is revoked, unknown to authd,
// or not c's: a token whose subject (or, for an access token, roles)
// differ from those authd gave for its session, or whose scopes were not
// granted, is refused as revoked (one forged with a stolen key and the sid
// of a session of the forger's own). An error (a stale list, a
// CheckSession that failed) fails the call closed.
func (p *Poller) Revoked(ctx context.Context, c *token.Claims) (bool, error) {
	if c.SessionID == "" {
		return false, nil // minted elsewhere: no session to revoke
	}
	now := p.clock.Now()
	p.mu.RLock()
	stale := p.polled.IsZero() || now.Sub(p.polled) > p.maxStale
	_, revoked := p.revoked[c.SessionID]
	sess, known := p.live[c.SessionID]
	p.mu.RUnlock()
	switch {
	case stale:
		return false, ErrStale
	case revoked:
		return true, nil
	case known:
		return !now.Before(sess.until) || !sess.admits(c), nil
	}
	sess, live, err := p.check(ctx, c.SessionID)
	if err != nil {
		return false, err
	}
	return !live || !sess.admits(c), nil
}

// check asks authd whether a session met for the first time is live, and
// for whom, once however many calls carry it; a session that is not live
// reads as revoked.
func (p *Poller) check(ctx context.Context, sid string) (liveSession, bool, error) {
	sess, err := p.checks.Do(ctx, sid, p.timeout, func(ctx context.Context) (*liveSession, error) {
		resp, err := p.client.CheckSession(ctx, &authv1.CheckSessionRequest{Sid: sid})
		if err != nil {
			return nil, err
		}
		p.mu.Lock()
		defer p.mu.Unlock()
		if !resp.GetLive() {
			p.revoked[sid] = p.clock.Now().Add(p.maxStale) // not live now, never again; forget it later
			return nil, nil
		}
		if len(p.live) >= maxKnownSessions {
			clear(p.live)
		}
		sess := liveSession{until: time.Unix(resp.GetExpiresAt(), 0), subject: resp.GetSubject(),
			roles: resp.GetRoles(), scopes: resp.GetScopes()}
		p.live[sid] = sess
		return &sess, nil
	})
	if err != nil {
		return liveSession{}, false, fmt.Errorf("check session: %w", err) // the call fails closed
	}
	if sess == nil {
		return liveSession{}, false, nil
	}
	return *sess, true, nil
}

// Poll fetches the revocations since the last poll, every page of them.
func (p *Poller) Poll(ctx context.Context) error {
	p.pollMu.Lock()
	defer p.pollMu.Unlock()
	ctx, cancel := context.WithTimeout(ctx, p.timeout)
	defer cancel()
	p.mu.RLock()
	req := &authv1.ListRevocationsRequest{Since: p.since, PageSize: p.pageSize}
	p.mu.RUnlock()
	found := map[string]time.Time{}
	var serverTime int64
	for {
		resp, err := p.client.ListRevocations(ctx, req)
		if err != nil {
			return fmt.Errorf("list revocations: %w", err)
		}
		if serverTime == 0 {
			serverTime = resp.GetServerTime()
		}
		for _, r := range resp.GetRevocations() {
			found[r.GetSid()] = time.Unix(r.GetExpiresAt(), 0)
		}
		if resp.GetNextPageToken() == "" {
			break
		}
		req.PageToken = resp.GetNextPageToken()
	}
	if serverTime <= 0 {
		return errors.New("list revocations: no server time")
	}
	now := p.clock.Now()
	p.mu.Lock()
	defer p.mu.Unlock()
	for sid, until := range p.revoked {
		if !now.Before(until) {
			delete(p.revoked, sid) // its tokens no longer verify
		}
	}
	for sid, sess := range p.live {
		if !now.Before(sess.until) {
			delete(p.live, sid)
		}
	}
	for sid, until := range found {
		p.revoked[sid] = until
	}
	p.since = max(serverTime-int64(p.overlap/time.Second), 0)
	p.polled = now
	return nil
}

// Nudge makes Run poll now rather than at the next interval: call it when
// a revocation feed (package revocation/redisfeed) announces one. Nudges
// during a poll coalesce into one more poll.
func (p *Poller) Nudge() {
	select {
	case p.nudge <- struct{}{}:
	default:
	}
}

// Run polls every interval, and when nudged, until ctx ends. Failed polls
// are retried at the next interval; onError, if not nil, hears of them.
func (p *Poller) Run(ctx context.Context, onError func(error)) {
	for {
		tick := make(chan struct{})
		stop := p.clock.AfterFunc(p.interval, func() { close(tick) })
		select {
		case <-ctx.Done():
			stop()
			return
		case <-tick:
		case <-p.nudge:
			stop()
		}
		if err := p.Poll(ctx); err != nil && onError != nil && ctx.Err() == nil {
			onError(err)
		}
	}
}

func orDefault(d, def time.Duration) time.Duration {
	if d <= 0 {
		return def
	}
	return d
}
