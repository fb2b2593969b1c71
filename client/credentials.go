package client

import (
	"context"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"

	"github.com/authd-dev/authd/clock"
	"github.com/authd-dev/authd/dpop"
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
	prover *prover // nil without DPoP
	keyErr error   // of generating the DPoP key

	mu     sync.Mutex
	token  string
	bound  bool // token is bound to the DPoP key
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
	// DPoP binds the tokens to a key the Credentials generate and keep in
	// memory (RFC 9449): IssueClientToken is called with a proof, and every
	// call with a bound token carries `authorization: DPoP <token>` and a
	// proof of its own. The interceptors of DialOptions retry a call once
	// when the service asks for a DPoP nonce.
	//
	// Over mutual TLS no key is needed: authd binds the token to the
	// client certificate of the connection IssueClientToken was called on
	// (cnf x5t#S256), and the token is then sent as a Bearer token, which
	// services accept only over connections presenting that same
	// certificate: dial them with the same tls.Config.
	DPoP bool
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
	c := &Credentials{
		auth: authv1.NewAuthServiceClient(conn), id: clientID, secret: secret, scopes: scopes,
		cfg: cfg, margin: DefaultRefreshMargin,
	}
	if cfg.DPoP {
		var key *dpop.Key
		if key, c.keyErr = dpop.NewKey(); c.keyErr == nil {
			c.prover = newProver(key, cfg.Clock)
		}
	}
	return c
}

// DialOptions returns the options that make a connection authenticate as
// the service account: the credentials, and the interceptors that retry a
// call once when the service asks for a DPoP nonce (with DPoP; without it,
// grpc.WithPerRPCCredentials(c) alone does as well).
func (c *Credentials) DialOptions() []grpc.DialOption {
	return []grpc.DialOption{
		grpc.WithPerRPCCredentials(c),
		grpc.WithChainUnaryInterceptor(c.unaryInterceptor),
		grpc.WithChainStreamInterceptor(c.streamInterceptor),
	}
}

func (c *Credentials) unaryInterceptor(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
	if c.prover == nil {
		return invoker(ctx, method, req, reply, cc, opts...)
	}
	ctx, tgt := withTarget(ctx)
	var header, trailer metadata.MD
	opts = append(opts, grpc.Header(&header), grpc.Trailer(&trailer))
	err := invoker(ctx, method, req, reply, cc, opts...)
	if c.prover.adoptNonce(tgt.get(), err, header, trailer) {
		err = invoker(ctx, method, req, reply, cc, opts...)
		c.prover.adoptNonce(tgt.get(), err, header, trailer)
	}
	return err
}

func (c *Credentials) streamInterceptor(ctx context.Context, desc *grpc.StreamDesc, cc *grpc.ClientConn, method string, streamer grpc.Streamer, opts ...grpc.CallOption) (grpc.ClientStream, error) {
	if c.prover == nil {
		return streamer(ctx, desc, cc, method, opts...)
	}
	ctx, tgt := withTarget(ctx)
	s := &stream{p: c.prover, ctx: ctx, target: tgt, open: func(string) (grpc.ClientStream, error) {
		return streamer(ctx, desc, cc, method, opts...)
	}}
	cs, err := s.open("")
	if c.prover.adoptNonce(tgt.get(), err) {
		s.retried = true
		cs, err = s.open("")
	}
	if err != nil {
		return nil, err
	}
	s.cs = cs
	return s, nil
}

// Token returns a token valid now, getting a new one when the held one is
// within the refresh margin of its expiry (one minute, at most half its
// lifetime). A failure to renew early is not an error while the held token
// is still valid. However many calls need a token at once, one
// IssueClientToken is made.
func (c *Credentials) Token(ctx context.Context) (string, error) {
	if c.keyErr != nil {
		return "", c.keyErr
	}
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
	var resp *authv1.IssueClientTokenResponse
	err := callAuthd(ctx, c.prover, "", false, func(ctx context.Context, opts ...grpc.CallOption) (err error) {
		resp, err = c.auth.IssueClientToken(ctx, &authv1.IssueClientTokenRequest{
			ClientId: c.id, ClientSecret: c.secret, Scopes: c.scopes,
		}, opts...)
		return err
	})
	if err != nil {
		return "", err
	}
	life := time.Duration(resp.GetExpiresIn()) * time.Second
	claims, _ := parse(resp.GetAccessToken())
	c.mu.Lock()
	defer c.mu.Unlock()
	c.token, c.exp, c.bound = resp.GetAccessToken(), start.Add(life), c.prover != nil && boundToKey(claims)
	c.margin = min(DefaultRefreshMargin, life/2)
	return c.token, nil
}

// GetRequestMetadata implements credentials.PerRPCCredentials:
// `authorization: Bearer <token>`, or, for a token bound to the DPoP key,
// `authorization: DPoP <token>` and a proof for the call in `dpop`.
func (c *Credentials) GetRequestMetadata(ctx context.Context, uri ...string) (map[string]string, error) {
	tok, err := c.Token(ctx)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	bound, known := c.bound, tok == c.token
	c.mu.Unlock()
	if !known {
		claims, _ := parse(tok)
		bound = c.prover != nil && boundToKey(claims)
	}
	if !bound {
		return map[string]string{wire.AuthorizationKey: "Bearer " + tok}, nil
	}
	scheme, authority, method, err := requestTarget(ctx, uri)
	if err != nil {
		return nil, err
	}
	return c.prover.present(scheme, authority, method, tok, true)
}

// RequireTransportSecurity is true unless built with
// CredentialsConfig.Insecure.
func (c *Credentials) RequireTransportSecurity() bool { return !c.cfg.Insecure }
