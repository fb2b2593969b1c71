package interceptors

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"

	"google.golang.org/grpc"

	"github.com/authd-dev/authd/clock"
	authv1 "github.com/authd-dev/authd/gen/auth/v1"
	"github.com/authd-dev/authd/token"
)

// KeyFetcher fetches authd's public keys.
type KeyFetcher interface {
	FetchKeys(ctx context.Context) ([]token.JWK, error)
}

// KeyFetcherFunc adapts a function to KeyFetcher.
type KeyFetcherFunc func(ctx context.Context) ([]token.JWK, error)

// FetchKeys calls f.
func (f KeyFetcherFunc) FetchKeys(ctx context.Context) ([]token.JWK, error) { return f(ctx) }

// GRPCKeys fetches keys with AuthService.GetJWKS over conn.
func GRPCKeys(conn grpc.ClientConnInterface) KeyFetcher {
	client := authv1.NewAuthServiceClient(conn)
	return KeyFetcherFunc(func(ctx context.Context) ([]token.JWK, error) {
		resp, err := client.GetJWKS(ctx, &authv1.GetJWKSRequest{})
		if err != nil {
			return nil, err
		}
		keys := make([]token.JWK, 0, len(resp.GetKeys()))
		for _, k := range resp.GetKeys() {
			keys = append(keys, token.JWK{Kty: k.Kty, Crv: k.Crv, X: k.X, Kid: k.Kid, Alg: k.Alg, Use: k.Use})
		}
		return keys, nil
	})
}

// maxJWKSBody bounds what HTTPKeys reads.
const maxJWKSBody = 1 << 20

// HTTPKeys fetches keys from a JWKS URL (authd's /.well-known/jwks.json).
// client nil means http.DefaultClient.
func HTTPKeys(url string, client *http.Client) KeyFetcher {
	if client == nil {
		client = http.DefaultClient
	}
	return KeyFetcherFunc(func(ctx context.Context) ([]token.JWK, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return nil, err
		}
		resp, err := client.Do(req)
		if err != nil {
			return nil, err
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return nil, fmt.Errorf("jwks: %s", resp.Status)
		}
		var set struct {
			Keys []token.JWK `json:"keys"`
		}
		if err := json.NewDecoder(io.LimitReader(resp.Body, maxJWKSBody)).Decode(&set); err != nil {
			return nil, fmt.Errorf("jwks: %w", err)
		}
		return set.Keys, nil
	})
}

// JWKS is a token.KeySource backed by authd's published keys. It caches
// them (default 10 minutes), refetches on an unknown kid at most once per
// cooldown (default 30 s, so forged kids cannot cause a fetch storm), and
// keeps verifying from its cache while authd is unreachable.
type JWKS struct {
	fetcher  KeyFetcher
	clock    clock.Clock
	ttl      time.Duration
	cooldown time.Duration
	timeout  time.Duration

	fetchMu sync.Mutex // one fetch at a time
	mu      sync.RWMutex
	keys    map[string]ed25519.PublicKey
	fetched time.Time // last successful fetch
	tried   time.Time // last attempt
}

var _ token.KeySource = (*JWKS)(nil)

// JWKSOption configures a JWKS.
type JWKSOption func(*JWKS)

// WithJWKSCacheTTL sets how long fetched keys are used before a refetch.
func WithJWKSCacheTTL(d time.Duration) JWKSOption { return func(j *JWKS) { j.ttl = d } }

// WithJWKSCooldown sets the least time between two fetches.
func WithJWKSCooldown(d time.Duration) JWKSOption { return func(j *JWKS) { j.cooldown = d } }

// WithJWKSClock sets the time source.
func WithJWKSClock(c clock.Clock) JWKSOption { return func(j *JWKS) { j.clock = c } }

// NewJWKS returns a key source that fetches keys with f when first needed.
func NewJWKS(f KeyFetcher, opts ...JWKSOption) *JWKS {
	j := &JWKS{fetcher: f, clock: clock.System(), ttl: 10 * time.Minute, cooldown: 30 * time.Second, timeout: 5 * time.Second}
	for _, opt := range opts {
		opt(j)
	}
	return j
}

// Algorithm returns EdDSA.
func (j *JWKS) Algorithm() string { return token.EdDSA }

// VerificationKey returns the key named kid, fetching when the cache is stale
// or does not know kid and the cooldown allows.
func (j *JWKS) VerificationKey(ctx context.Context, kid string) (any, error) {
	now := j.clock.Now()
	j.mu.RLock()
	key, known := j.keys[kid]
	stale := now.Sub(j.fetched) >= j.ttl
	j.mu.RUnlock()
	if known && !stale {
		return key, nil
	}
	fetchErr := j.refresh(ctx, now)
	j.mu.RLock()
	key, known = j.keys[kid]
	empty := len(j.keys) == 0
	j.mu.RUnlock()
	switch {
	case known:
		return key, nil // possibly from a stale cache while authd is down
	case empty && fetchErr != nil:
		return nil, fmt.Errorf("%w: %w", token.ErrKeysUnavailable, fetchErr)
	}
	return nil, token.ErrUnknownKey
}

// Refresh fetches the keys now, whatever the cache and cooldown say; call it
// at startup to fail fast when authd is unreachable.
func (j *JWKS) Refresh(ctx context.Context) error {
	return j.fetch(ctx, j.clock.Now())
}

// refresh fetches unless another fetch was attempted within the cooldown.
func (j *JWKS) refresh(ctx context.Context, now time.Time) error {
	j.fetchMu.Lock()
	defer j.fetchMu.Unlock()
	j.mu.RLock()
	recent := !j.tried.IsZero() && now.Sub(j.tried) < j.cooldown
	j.mu.RUnlock()
	if recent {
		return nil
	}
	return j.fetchLocked(ctx, now)
}

func (j *JWKS) fetch(ctx context.Context, now time.Time) error {
	j.fetchMu.Lock()
	defer j.fetchMu.Unlock()
	return j.fetchLocked(ctx, now)
}

func (j *JWKS) fetchLocked(ctx context.Context, now time.Time) error {
	j.mu.Lock()
	j.tried = now
	j.mu.Unlock()
	// The caller's deadline may be tight or absent: bound the fetch itself.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), j.timeout)
	defer cancel()
	jwks, err := j.fetcher.FetchKeys(ctx)
	if err != nil {
		return err
	}
	keys := make(map[string]ed25519.PublicKey, len(jwks))
	var errs []error
	for _, k := range jwks {
		pub, err := k.PublicKey()
		if err != nil {
			errs = append(errs, err)
			continue
		}
		keys[k.Kid] = pub
	}
	if len(keys) == 0 && len(errs) > 0 {
		return errors.Join(errs...)
	}
	j.mu.Lock()
	j.keys, j.fetched = keys, now
	j.mu.Unlock()
	return nil
}
