package client

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/authd-dev/authd/clock"
	"github.com/authd-dev/authd/dpop"
	authv1 "github.com/authd-dev/authd/gen/auth/v1"
	"github.com/authd-dev/authd/internal/flight"
	"github.com/authd-dev/authd/jwks"
	"github.com/authd-dev/authd/token"
	"github.com/authd-dev/authd/wire"
)

// DefaultRefreshMargin is how long before exp a token is refreshed.
const DefaultRefreshMargin = time.Minute

// ErrNotLoggedIn: the client holds no refresh token, so only a login helps.
var ErrNotLoggedIn = status.Error(codes.Unauthenticated, "not logged in")

// Config is how a Client keeps and refreshes its tokens. Its zero value
// keeps them in memory and needs TLS.
type Config struct {
	// Store keeps the tokens between runs of an application (nil: in
	// memory); New loads them.
	Store TokenStore
	// OnLoginRequired is called, once per failure, when only a fresh login
	// can help; err is the error the call returns. It runs on the caller's
	// goroutine and may call Login.
	OnLoginRequired func(ctx context.Context, err error)
	// OnStepUpRequired is called, once per refusal, when a call is refused
	// with STEP_UP_REQUIRED: the method wants a second factor, or a more
	// recent proof, than the token shows (err's ErrorInfo names them as
	// acr_values and max_age). The client neither refreshes nor retries:
	// the callback may ask the user for a code and call StepUp, then the
	// application calls again. It runs on the caller's goroutine.
	OnStepUpRequired func(ctx context.Context, err error)
	// RefreshMargin refreshes tokens this long before their exp (0:
	// DefaultRefreshMargin; at most half the token's lifetime).
	RefreshMargin time.Duration
	// RefreshTimeout bounds one Refresh call to authd (0:
	// DefaultRefreshTimeout). It runs detached from the call that needed
	// it, so that the concurrent calls waiting for it share it; each call
	// waits at most until its own deadline.
	RefreshTimeout time.Duration
	// Issuer and Audience are the iss and aud authd stamps on its tokens
	// (default "authd"), which renewed tokens must carry to be adopted.
	Issuer, Audience string
	// DPoP binds the session's tokens to a key only this client holds
	// (RFC 9449), so that a token copied from a log, a proxy or a crash
	// dump is of no use without it: the client generates an ES256 key,
	// keeps it in the Store with the tokens (Tokens.DPoPKey), and signs a
	// proof with Login, LoginSecondFactor, Refresh, StepUp and Logout (so
	// that authd binds what it issues) and with every call its credentials
	// authenticate. Tokens authd did not bind (an authd without DPoP, or a
	// session stored before) are still sent as Bearer tokens. A session
	// restored with a key uses it, whatever DPoP says.
	DPoP bool
	// Insecure lets the credentials travel over connections without TLS.
	// For loopback development and tests only: anyone on the path could
	// take the token.
	Insecure bool
	// Logger hears of tokens that could not be saved (nil:
	// slog.Default()). Tokens are never logged.
	Logger *slog.Logger
	// Clock is the time source (nil: the system clock).
	Clock clock.Clock
}

// DefaultRefreshTimeout bounds a Refresh call (Config.RefreshTimeout).
const DefaultRefreshTimeout = 30 * time.Second

// Client holds one user's session with authd. It is safe for concurrent use.
type Client struct {
	auth     authv1.AuthServiceClient
	cfg      Config
	verifier *token.Verifier // checks renewed tokens against authd's published keys
	prover   *prover         // nil without DPoP
	keyPEM   string          // the prover's key, kept with the tokens

	refreshes flight.Group[*refreshed] // one Refresh per refresh token at a time

	mu      sync.Mutex
	tokens  Tokens
	pending string        // the second_factor_token of a Login awaiting LoginSecondFactor
	access  *token.Claims // unverified claims of tokens.Access
	refresh *token.Claims // unverified claims of tokens.Refresh
	adopted bool          // tokens.Access came from a renewal header
}

// New returns a Client that logs in and refreshes through authd, a
// connection to authd (which may itself use the Client's DialOptions), and
// loads the tokens of a previous run from the store.
func New(ctx context.Context, authd grpc.ClientConnInterface, cfg Config) (*Client, error) {
	if cfg.Store == nil {
		cfg.Store = &MemoryStore{}
	}
	if cfg.RefreshMargin <= 0 {
		cfg.RefreshMargin = DefaultRefreshMargin
	}
	if cfg.RefreshTimeout <= 0 {
		cfg.RefreshTimeout = DefaultRefreshTimeout
	}
	if cfg.Issuer == "" {
		cfg.Issuer = token.DefaultIssuer
	}
	if cfg.Audience == "" {
		cfg.Audience = token.DefaultIssuer
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Clock == nil {
		cfg.Clock = clock.System()
	}
	c := &Client{auth: authv1.NewAuthServiceClient(authd), cfg: cfg}
	keys := jwks.New(jwks.GRPC(authd), jwks.Config{Clock: cfg.Clock})
	verifier, err := token.NewVerifier(keys, token.WithIssuer(cfg.Issuer), token.WithAudience(cfg.Audience), token.WithClock(cfg.Clock))
	if err != nil {
		return nil, err
	}
	c.verifier = verifier
	t, err := cfg.Store.Load(ctx)
	if err != nil {
		return nil, err
	}
	if err := c.loadKey(t.DPoPKey); err != nil {
		return nil, err
	}
	c.set(t)
	return c, nil
}

// loadKey takes the DPoP key of a stored session, or, with Config.DPoP, a
// new one.
func (c *Client) loadKey(stored string) error {
	var key *dpop.Key
	var err error
	switch {
	case stored != "":
		if key, err = dpop.ParseKey([]byte(stored)); err != nil {
			return fmt.Errorf("authd client: the stored DPoP key: %w", err)
		}
	case c.cfg.DPoP:
		if key, err = dpop.NewKey(); err != nil {
			return err
		}
	default:
		return nil
	}
	pem, err := key.MarshalPEM()
	if err != nil {
		return err
	}
	c.prover, c.keyPEM = newProver(key, c.cfg.Clock), string(pem)
	return nil
}

// DialOptions returns the options that make a connection authenticate as
// this client: credentials and the unary and stream interceptors.
func (c *Client) DialOptions() []grpc.DialOption {
	return []grpc.DialOption{
		grpc.WithPerRPCCredentials(c.PerRPCCredentials()),
		grpc.WithChainUnaryInterceptor(c.UnaryClientInterceptor()),
		grpc.WithChainStreamInterceptor(c.StreamClientInterceptor()),
	}
}

// Login opens a session with username and password, replacing any other.
// For a user with a second factor it returns an error wrapping
// ErrSecondFactorRequired and keeps the tokens it holds: LoginSecondFactor
// completes the login.
func (c *Client) Login(ctx context.Context, username, password string) error {
	var resp *authv1.LoginResponse
	err := callAuthd(ctx, c.prover, "", false, func(ctx context.Context, opts ...grpc.CallOption) (err error) {
		resp, err = c.auth.Login(ctx, &authv1.LoginRequest{Username: username, Password: password}, opts...)
		return err
	})
	if err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if resp.GetSecondFactorRequired() {
		c.pending = resp.GetSecondFactorToken()
		return fmt.Errorf("login of %s: %w", username, ErrSecondFactorRequired)
	}
	c.pending = ""
	c.save(ctx, Tokens{Access: resp.GetAccessToken(), Refresh: resp.GetRefreshToken()})
	return nil
}

// Logout ends the session at authd and forgets the tokens, even when authd
// cannot be told (the tokens are then left to expire). It presents the
// access token, or, once that has expired, the refresh token, which authd's
// Logout takes as well.
func (c *Client) Logout(ctx context.Context) error {
	c.mu.Lock()
	tok, bound := c.tokens.Access, boundToKey(c.access)
	if c.tokens.Refresh != "" && (c.access == nil || !c.cfg.Clock.Now().Before(c.access.Expiry())) {
		tok, bound = c.tokens.Refresh, boundToKey(c.refresh)
	}
	c.save(ctx, Tokens{})
	c.mu.Unlock()
	if tok == "" {
		return nil
	}
	err := callAuthd(ctx, c.prover, tok, bound, func(ctx context.Context, opts ...grpc.CallOption) error {
		_, err := c.auth.Logout(ctx, &authv1.LogoutRequest{}, opts...)
		return err
	})
	if status.Code(err) == codes.Unauthenticated {
		return nil // expired or already revoked: the session is over anyway
	}
	return err
}

// Tokens returns the tokens held now.
func (c *Client) Tokens() Tokens {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.tokens
}

// Token returns an access token for a call made now, refreshing first when
// it is due; "" with no error when the client holds no session.
func (c *Client) Token(ctx context.Context) (string, error) {
	c.mu.Lock()
	tok, access, hasRefresh, refreshable := c.tokens.Access, c.access, c.tokens.Refresh != "", c.refreshableLocked()
	c.mu.Unlock()
	if tok == "" {
		return "", nil
	}
	now := c.cfg.Clock.Now()
	expired := access == nil || !now.Before(access.Expiry())
	if !expired && !(refreshable && c.due(access, now)) {
		return tok, nil
	}
	if !hasRefresh {
		return tok, nil // the service will say it has expired; see afterCall
	}
	fresh, err := c.refreshFrom(ctx, tok)
	if err != nil && !expired && !loginRequired(err) {
		return tok, nil // a proactive refresh is best effort
	}
	return fresh, err
}

// due reports whether access is within the refresh margin of its exp.
func (c *Client) due(access *token.Claims, now time.Time) bool {
	margin := c.cfg.RefreshMargin
	if life := access.Expiry().Sub(access.IssuedTime()); margin > life/2 {
		margin = life / 2
	}
	return !now.Before(access.Expiry().Add(-margin))
}

// refreshableLocked reports whether a refresh could give a token that lives
// longer: not when the refresh token ends no later than the access token,
// as at the session cap.
func (c *Client) refreshableLocked() bool {
	if c.tokens.Refresh == "" {
		return false
	}
	if c.refresh == nil || c.access == nil {
		return true
	}
	return c.refresh.Expiry().After(c.access.Expiry())
}

// refreshFrom refreshes unless stale is no longer the current access token
// (another caller refreshed, or a renewal came in), joining a refresh
// already in flight. The caller waits at most until its ctx ends; the
// refresh goes on for the others, bounded by Config.RefreshTimeout.
func (c *Client) refreshFrom(ctx context.Context, stale string) (string, error) {
	c.mu.Lock()
	if c.tokens.Access != stale && c.tokens.Access != "" {
		tok := c.tokens.Access
		c.mu.Unlock()
		return tok, nil
	}
	refresh := c.tokens.Refresh
	c.mu.Unlock()
	if refresh == "" {
		c.loginRequired(ctx, ErrNotLoggedIn)
		return "", ErrNotLoggedIn
	}
	r, err := c.refreshes.Do(ctx, refresh, c.cfg.RefreshTimeout, func(rctx context.Context) (*refreshed, error) {
		tok, err := c.runRefresh(rctx, refresh)
		return &refreshed{token: tok, err: err}, nil
	})
	if err != nil {
		return "", status.FromContextError(err).Err() // ctx ended first
	}
	if loginRequired(r.err) {
		r.reported.Do(func() { c.loginRequired(ctx, r.err) })
	}
	return r.token, r.err
}

// refreshed is what one Refresh brought every caller that waited for it;
// the first of them to see a failure only a login cures reports it.
type refreshed struct {
	token    string
	err      error
	reported sync.Once
}

// runRefresh makes the Refresh RPC with the refresh token refresh and
// keeps what it brings.
func (c *Client) runRefresh(ctx context.Context, refresh string) (string, error) {
	var resp *authv1.RefreshResponse
	err := callAuthd(ctx, c.prover, refresh, c.bound(refresh), func(ctx context.Context, opts ...grpc.CallOption) (err error) {
		resp, err = c.auth.Refresh(ctx, &authv1.RefreshRequest{}, opts...)
		return err
	})
	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case err == nil:
		t := Tokens{Access: resp.GetAccessToken(), Refresh: c.tokens.Refresh}
		if r := resp.GetRefreshToken(); r != "" {
			t.Refresh = r // rotation: the old one is spent
		}
		c.save(ctx, t)
		return t.Access, nil
	case status.Code(err) == codes.Unauthenticated && !dpopRefusal(err):
		// authd no longer accepts the refresh token: the session is over.
		// (A refused proof says nothing of the token.)
		if c.tokens.Refresh == refresh {
			c.save(ctx, Tokens{})
		}
	}
	return "", err
}

// loginRequired reports whether err means only a new login can help.
func loginRequired(err error) bool {
	if err == nil {
		return false
	}
	if errors.Is(err, ErrNotLoggedIn) {
		return true
	}
	return status.Code(err) == codes.Unauthenticated
}

func (c *Client) loginRequired(ctx context.Context, err error) {
	if c.cfg.OnLoginRequired != nil {
		c.cfg.OnLoginRequired(ctx, err)
	}
}

// afterCall reacts to a call's error: on TOKEN_EXPIRED — or TOKEN_INVALID
// for a token adopted from a renewal header, which a service may have
// minted wrongly — it refreshes and returns the token to retry with; on
// errors only a login cures it calls OnLoginRequired, on STEP_UP_REQUIRED
// OnStepUpRequired. retry is "" when the call must not be retried.
func (c *Client) afterCall(ctx context.Context, used string, err error) (retry string, _ error) {
	reason := wire.Reason(err)
	if reason == wire.ReasonTokenInvalid {
		c.mu.Lock()
		adopted := c.adopted && c.tokens.Access == used
		c.mu.Unlock()
		if adopted {
			reason = wire.ReasonTokenExpired // refresh once, as for an expired token
		}
	}
	switch reason {
	case wire.ReasonTokenExpired:
		if used == "" {
			return "", err
		}
		tok, rerr := c.refreshFrom(ctx, used)
		if rerr != nil {
			return "", rerr
		}
		return tok, err
	case wire.ReasonTokenRevoked:
		c.mu.Lock()
		if c.tokens.Access == used {
			c.save(ctx, Tokens{})
		}
		c.mu.Unlock()
		c.loginRequired(ctx, err)
	case wire.ReasonFreshTokenRequired:
		c.loginRequired(ctx, err)
	case wire.ReasonStepUpRequired:
		// Neither a refresh nor a login helps: only the user's proof.
		if c.cfg.OnStepUpRequired != nil {
			c.cfg.OnStepUpRequired(ctx, err)
		}
	}
	return "", err
}

// adopt takes a renewed access token from a response header when its
// signature verifies against authd's published keys and it is an access
// token of the same user and session that lives longer than the current
// one. Anything else (a hostile or confused service) is ignored: a service
// cannot poison the session with a token authd did not sign.
func (c *Client) adopt(ctx context.Context, header metadata.MD) {
	vals := header.Get(wire.RenewalHeader)
	if len(vals) != 1 {
		return
	}
	c.mu.Lock()
	cur := c.access
	c.mu.Unlock()
	if cur == nil || cur.SessionID == "" {
		return
	}
	vctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	renewed, err := c.verifier.Verify(vctx, vals[0])
	if err != nil || renewed.Type != token.Access || renewed.SessionID != cur.SessionID ||
		renewed.Subject != cur.Subject || !renewed.Expiry().After(cur.Expiry()) {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.access != cur {
		return // changed meanwhile (a refresh): the renewal is for an old token
	}
	c.save(ctx, Tokens{Access: vals[0], Refresh: c.tokens.Refresh})
	c.adopted = true
}

// bound reports whether tok, a token the client holds, is bound to its
// DPoP key.
func (c *Client) bound(tok string) bool {
	if c.prover == nil {
		return false
	}
	c.mu.Lock()
	var claims *token.Claims
	switch tok {
	case c.tokens.Access:
		claims = c.access
	case c.tokens.Refresh:
		claims = c.refresh
	}
	c.mu.Unlock()
	if claims == nil {
		claims, _ = parse(tok)
	}
	return boundToKey(claims)
}

// dpopRefusal reports whether err refuses a call's DPoP proof.
func dpopRefusal(err error) bool {
	switch wire.Reason(err) {
	case wire.ReasonDPoPProofRequired, wire.ReasonDPoPProofInvalid, wire.ReasonDPoPNonceRequired:
		return true
	}
	return false
}

// save replaces the tokens and persists them, with the DPoP key while
// there are tokens. Called with c.mu held.
func (c *Client) save(ctx context.Context, t Tokens) {
	if t.Access != "" || t.Refresh != "" {
		t.DPoPKey = c.keyPEM
	}
	c.set(t)
	if err := c.cfg.Store.Save(ctx, t); err != nil {
		c.cfg.Logger.WarnContext(ctx, "authd client: saving tokens failed", "err", err)
	}
}

// set replaces the tokens in memory.
func (c *Client) set(t Tokens) {
	c.tokens, c.adopted = t, false
	c.access, _ = parse(t.Access)
	c.refresh, _ = parse(t.Refresh)
}

// parse reads a token's claims without verifying it: the client only uses
// them for timing and to match renewals to its session.
func parse(raw string) (*token.Claims, bool) {
	if raw == "" || len(raw) > token.MaxLength {
		return nil, false
	}
	var claims token.Claims
	if _, _, err := jwt.NewParser().ParseUnverified(raw, &claims); err != nil {
		return nil, false
	}
	if claims.ExpiresAt == nil {
		return nil, false
	}
	return &claims, true
}
