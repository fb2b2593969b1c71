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
	"github.com/authd-dev/authd/token"
)

// Poller is the Checker of a service that verifies tokens with authd's
// JWKS: it keeps the list of revoked sessions, polling
// AuthService.ListRevocations every interval, so a revoked session's tokens
// are refused within about one interval. When no poll has succeeded for
// the staleness limit it fails closed with ErrStale: calls get Unavailable
// until authd answers again.
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
	revoked map[string]time.Time // sid -> session cap
	since   int64                // next poll's since
	polled  time.Time            // last complete poll
}

var _ Checker = (*Poller)(nil)

// NewPoller returns a poller reading authd over conn. Call Poll once at
// startup (to fail fast), then Run in a goroutine.
func NewPoller(conn grpc.ClientConnInterface, opts ...Option) *Poller {
	cfg := newConfig(opts)
	return &Poller{
		client:   authv1.NewAuthServiceClient(conn),
		clock:    cfg.clock,
		interval: cfg.interval,
		maxStale: cfg.maxStale,
		pageSize: cfg.pageSize,
		// Revocations committed concurrently, or by an authd whose clock is
		// a little behind, may carry a time before the last answer's.
		overlap: time.Minute,
		timeout: 10 * time.Second,
		revoked: map[string]time.Time{},
		nudge:   make(chan struct{}, 1),
	}
}

// Revoked implements Checker.
func (p *Poller) Revoked(_ context.Context, c *token.Claims) (bool, error) {
	if c.SessionID == "" {
		return false, nil // minted elsewhere: no session to revoke
	}
	p.mu.RLock()
	defer p.mu.RUnlock()
	if p.polled.IsZero() || p.clock.Now().Sub(p.polled) > p.maxStale {
		return false, ErrStale
	}
	_, revoked := p.revoked[c.SessionID]
	return revoked, nil
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
