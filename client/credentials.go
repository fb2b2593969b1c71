package client

import (
	"context"
	"sync"
	"time"

	"google.golang.org/grpc"

	"github.com/authd-dev/authd/clock"
	authv1 "github.com/authd-dev/authd/gen/auth/v1"
	"github.com/authd-dev/authd/wire"
)

// Credentials are the per-RPC credentials of a service account (a machine
// caller, see `authd client add`): they get an access token with
// AuthService.IssueClientToken, attach it to every call, and get a new one
// before it expires — the OAuth 2.0 client credentials grant, in the shape
// of golang.org/x/oauth2/clientcredentials. However many calls need a token
// at once, one IssueClientToken is made. Safe for concurrent use.
type Credentials struct {
	auth     authv1.AuthServiceClient
	id       string
	secret   string
	scopes   []string
	clock    clock.Clock
	margin   time.Duration
	insecure bool

	mu     sync.Mutex
	token  string
	exp    time.Time
	flight *flight
}

// CredentialsOption configures Credentials.
type CredentialsOption func(*Credentials)

// WithCredentialsClock sets the time source (default the system clock).
func WithCredentialsClock(c clock.Clock) CredentialsOption {
	return func(cr *Credentials) { cr.clock = c }
}

// WithInsecureCredentials lets the token travel over connections without
// TLS: for loopback development and tests only.
func WithInsecureCredentials() CredentialsOption { return func(cr *Credentials) { cr.insecure = true } }

// ClientCredentials returns the credentials of the service account
// clientID, getting tokens for scopes (none: every granted scope) from
// authd over conn. Use them with grpc.WithPerRPCCredentials on the
// connections to the services the account calls.
func ClientCredentials(conn grpc.ClientConnInterface, clientID, secret string, scopes []string, opts ...CredentialsOption) *Credentials {
	c := &Credentials{
		auth: authv1.NewAuthServiceClient(conn), id: clientID, secret: secret, scopes: scopes,
		clock: clock.System(), margin: DefaultRefreshMargin,
	}
	for _, opt := range opts {
		opt(c)
	}
	return c
}

// Token returns a token valid now, getting a new one when the held one is
// within the refresh margin of its expiry (one minute, at most half its
// lifetime). A failure to renew early is not an error while the held token
// is still valid.
func (c *Credentials) Token(ctx context.Context) (string, error) {
	c.mu.Lock()
	now := c.clock.Now()
	if c.token != "" && now.Before(c.exp.Add(-c.margin)) {
		tok := c.token
		c.mu.Unlock()
		return tok, nil
	}
	f := c.flight
	if f == nil {
		f = &flight{done: make(chan struct{})}
		c.flight = f
		go c.fetch(context.WithoutCancel(ctx), f)
	}
	held, valid := c.token, c.token != "" && now.Before(c.exp)
	c.mu.Unlock()
	select {
	case <-f.done:
	case <-ctx.Done():
		return "", ctx.Err()
	}
	if f.err != nil && valid {
		return held, nil
	}
	return f.token, f.err
}

// fetch makes the one IssueClientToken call that every waiting caller uses.
func (c *Credentials) fetch(ctx context.Context, f *flight) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	start := c.clock.Now()
	resp, err := c.auth.IssueClientToken(internal(ctx), &authv1.IssueClientTokenRequest{
		ClientId: c.id, ClientSecret: c.secret, Scopes: c.scopes,
	})
	c.mu.Lock()
	defer c.mu.Unlock()
	if err == nil {
		life := time.Duration(resp.GetExpiresIn()) * time.Second
		c.token, c.exp = resp.GetAccessToken(), start.Add(life)
		c.margin = min(DefaultRefreshMargin, life/2)
		f.token = c.token
	}
	f.err = err
	c.flight = nil
	close(f.done)
}

// GetRequestMetadata implements credentials.PerRPCCredentials.
func (c *Credentials) GetRequestMetadata(ctx context.Context, _ ...string) (map[string]string, error) {
	tok, err := c.Token(ctx)
	if err != nil {
		return nil, err
	}
	return map[string]string{wire.AuthorizationKey: "Bearer " + tok}, nil
}

// RequireTransportSecurity is true unless built WithInsecureCredentials.
func (c *Credentials) RequireTransportSecurity() bool { return !c.insecure }
