package client

import (
	"context"
	"sync"
	"time"

	"google.golang.org/grpc"

	"github.com/authd-dev/authd/clock"
	authv1 "github.com/authd-dev/authd/gen/auth/v1"
	"github.com/authd-dev/authd/internal/flight"
	"github.com/authd-dev/authd/wire"
)

// Credentials are the per-RPC credentials of a service account (a machine
// caller, see `authd client add`): they get an access token with
// AuthService.IssueClientToken, attach it to every call, and get a new one
// before it expires — the OAuth 2.0 client credentials grant, in the shape
// of golang.org/x/oauth2/clientcredentials. However many calls need a token
// at once, one IssueClientToken is made. Safe for concurrent use.
type Credentials struct {
	auth   authv1.AuthServiceClient
	id     string
	secret string
	scopes []string
	cfg    CredentialsConfig
	fetch  flight.Group[string]

	mu     sync.Mutex
	token  string
	exp    time.Time
	margin time.Duration
}

// CredentialsConfig is how Credentials get their tokens; the zero value
// needs TLS.
type CredentialsConfig struct {
	// Timeout bounds one IssueClientToken call (0: DefaultRefreshTimeout).
	// It runs detached from the call that needed a token, so that the
	// concurrent calls waiting for it share it; each waits at most until
	// its own deadline.
	Timeout time.Duration
	// Insecure lets the token travel over connections without TLS: for
	// loopback development and tests only.
	Insecure bool
	// Clock is the time source (nil: the system clock).
	Clock clock.Clock
}

// ClientCredentials returns the credentials of the service account
// clientID, getting tokens for scopes (none: every granted scope) from
// authd over conn. Use them with grpc.WithPerRPCCredentials on the
// connections to the services the account calls.
func ClientCredentials(conn grpc.ClientConnInterface, clientID, secret string, scopes []string, cfg CredentialsConfig) *Credentials {
	if cfg.Clock == nil {
		cfg.Clock = clock.System()
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultRefreshTimeout
	}
	return &Credentials{
		auth: authv1.NewAuthServiceClient(conn), id: clientID, secret: secret, scopes: scopes,
		cfg: cfg, margin: DefaultRefreshMargin,
	}
}

// Token returns a token valid now, getting a new one when the held one is
// within the refresh margin of its expiry (one minute, at most half its
// lifetime). A failure to renew early is not an error while the held token
// is still valid. However many calls need a token at once, one
// IssueClientToken is made.
func (c *Credentials) Token(ctx context.Context) (string, error) {
	c.mu.Lock()
	now := c.cfg.Clock.Now()
	held, valid := c.token, c.token != "" && now.Before(c.exp)
	fresh := c.token != "" && now.Before(c.exp.Add(-c.margin))
	c.mu.Unlock()
	if fresh {
		return held, nil
	}
	tok, err := c.fetch.Do(ctx, "token", c.cfg.Timeout, c.issue)
	if err != nil && valid && ctx.Err() == nil {
		return held, nil
	}
	return tok, err
}

// issue makes the one IssueClientToken call that every waiting caller uses.
func (c *Credentials) issue(ctx context.Context) (string, error) {
	start := c.cfg.Clock.Now()
	resp, err := c.auth.IssueClientToken(internal(ctx), &authv1.IssueClientTokenRequest{
		ClientId: c.id, ClientSecret: c.secret, Scopes: c.scopes,
	})
	if err != nil {
		return "", err
	}
	life := time.Duration(resp.GetExpiresIn()) * time.Second
	c.mu.Lock()
	defer c.mu.Unlock()
	c.token, c.exp = resp.GetAccessToken(), start.Add(life)
	c.margin = min(DefaultRefreshMargin, life/2)
	return c.token, nil
}

// GetRequestMetadata implements credentials.PerRPCCredentials.
func (c *Credentials) GetRequestMetadata(ctx context.Context, _ ...string) (map[string]string, error) {
	tok, err := c.Token(ctx)
	if err != nil {
		return nil, err
	}
	return map[string]string{wire.AuthorizationKey: "Bearer " + tok}, nil
}

// RequireTransportSecurity is true unless built with
// CredentialsConfig.Insecure.
func (c *Credentials) RequireTransportSecurity() bool { return !c.cfg.Insecure }
