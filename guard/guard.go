package guard

import (
	"context"
	"crypto/sha256"
	"crypto/x509"
	"fmt"
	"slices"
	"sync/atomic"
	"time"

	"github.com/authd-dev/authd/clock"
	"github.com/authd-dev/authd/dpop"
	"github.com/authd-dev/authd/internal/ttlcache"
	"github.com/authd-dev/authd/token"
)

// Verifier checks a raw token's signature and registered claims;
// *token.Verifier is one, whatever its key source (authd's keys, or
// package jwks for services that verify with authd's published keys).
type Verifier interface {
	Verify(ctx context.Context, raw string) (*token.Claims, error)
}

// Revocations tells whether a verified token's session has been revoked
// (revocation.Poller for a service, authd's session engine for authd).
type Revocations interface {
	// Revoked reports whether claims' session is revoked. An error fails
	// the call closed with ErrUnavailable.
	Revoked(ctx context.Context, claims *token.Claims) (bool, error)
}

// Guard decides whether calls may proceed. It is safe for concurrent use;
// build one per server with New and adapt it to the transport
// (interceptors for grpc-go).
type Guard struct {
	verifier    Verifier
	policy      *policy
	cookies     *Cookies
	strongRoles []string
	clock       clock.Clock
	cache       *ttlcache.Cache[[sha256.Size]byte, verified]
	revocations Revocations
	freshMaxAge time.Duration
	recheck     time.Duration
	renewals    *renewals
	generation  atomic.Uint64 // of the keys the cached entries were verified with
	dpop        *dpop.Verifier
	// publicScheme and publicAuthority, when set, are the htu's of every
	// call (Config.PublicAuthority) in place of the call's own.
	publicScheme, publicAuthority string
}

// verified is a cache entry: claims and the generation of the keys that
// verified them.
type verified struct {
	claims     *token.Claims
	generation uint64
}

// maxCacheAge bounds how long a verified token is trusted without a new
// signature check, whatever its exp.
const maxCacheAge = time.Minute

// New returns a Guard that verifies tokens with v and enforces cfg.
func New(v Verifier, cfg Config) *Guard {
	g := &Guard{
		verifier:    v,
		policy:      newPolicy(cfg),
		clock:       cfg.Clock,
		revocations: cfg.Revocations,
		freshMaxAge: cfg.FreshMaxAge,
		recheck:     cfg.StreamRevocationCheck,
		dpop:        cfg.DPoP,
	}
	g.publicScheme, g.publicAuthority = splitPublicAuthority(cfg.PublicAuthority)
	if cfg.Cookies != nil {
		g.cookies = cfg.Cookies.withDefaults()
	}
	g.strongRoles = slices.Clone(cfg.SecondFactorRoles)
	if g.clock == nil {
		g.clock = clock.System()
	}
	if g.recheck <= 0 {
		g.recheck = DefaultStreamRevocationCheck
	}
	switch {
	case cfg.CacheSize == 0:
		g.cache = ttlcache.New[[sha256.Size]byte, verified](DefaultCacheSize)
	case cfg.CacheSize > 0:
		g.cache = ttlcache.New[[sha256.Size]byte, verified](cfg.CacheSize)
	}
	if cfg.Renewer != nil {
		g.renewals = newRenewals(cfg.Renewer, cfg.RenewalThreshold, cfg.RenewalTimeout)
	}
	return g
}

// Call is what a transport presents of one call: the method and the
// credentials that came with it. Adapters fill it from their request
// (interceptors from gRPC metadata and the peer).
type Call struct {
	// Method is the full method name, "/pkg.Service/Method".
	Method string
	// Authorization holds the values of the authorization header as
	// received; exactly one "Bearer <token>" is a credential, or, with
	// Config.DPoP, one "DPoP <token>".
	Authorization []string
	// DPoP holds the values of the dpop metadata (wire.DPoPKey): the proof
	// of possession of the key a token is bound to (cnf.jkt), or, on
	// authd's Login, Refresh and IssueClientToken, of the key to bind new
	// tokens to (ProvePossession).
	DPoP []string
	// Scheme ("https" over TLS, "http" otherwise; "" is taken as "https")
	// and Authority (the :authority, or Host, the server received) make
	// the htu a DPoP proof must name, with Method, unless
	// Config.PublicAuthority says otherwise.
	Scheme, Authority string
	// PeerCertificate is the client certificate of a mutual-TLS
	// connection, nil otherwise: a token bound to a certificate (cnf
	// x5t#S256) is accepted only over a connection that presents it.
	PeerCertificate *x509.Certificate
	// Cookie holds the values of the Cookie header, and CSRFToken those of
	// wire.CSRFHeader: read only by a Guard with Config.Cookies, for a
	// call without an authorization header.
	Cookie, CSRFToken []string
}

// Decision is a call allowed to proceed.
type Decision struct {
	// Claims are the verified claims of the caller's token; nil when the
	// method is public, or optional and called without a token.
	Claims *token.Claims

	requirement Requirement
	token       string
	fromCookie  bool
	jkt         string
}

// KeyThumbprint returns the thumbprint (cnf.jkt) of the key the call
// proved it holds with a DPoP proof, for the token it presented: "" when
// the token is not bound to a key. authd's Refresh binds the tokens it
// issues to it, so that a bound session stays bound. Handlers read it
// with KeyThumbprintFromContext.
func (d Decision) KeyThumbprint() string { return d.jkt }

// FromCookie reports whether the call was authenticated by a browser
// session's cookie: a renewal then goes back as a cookie
// (Guard.RenewalCookie), never in a header a page's scripts could read.
func (d Decision) FromCookie() bool { return d.fromCookie }

// Decide checks call against its method's rule: the credential is parsed,
// verified (or found in the cache of verified tokens), its binding proven
// and its session checked, then its type, freshness, roles and scopes
// matched to the rule. A refusal is one of the package's errors or
// token's, or, for a method whose rule contradicts itself, an error that
// fails the call closed as Internal.
func (g *Guard) Decide(ctx context.Context, call Call) (Decision, error) {
	res := g.policy.resolution(call.Method)
	if res.invalid != nil {
		return Decision{}, fmt.Errorf("method %s: %w", call.Method, res.invalid)
	}
	return g.decide(ctx, res.rule, call)
}

// Precheck is the part of Decide that needs neither the call's body nor
// a key: the method's rule and, unless the method is public (or optional
// and called without a token), exactly one well-formed "Bearer <token>"
// (or, with Config.DPoP, "DPoP <token>" and one dpop value of the form of
// a proof, dpop.CheckForm) whose token has the form of one
// (token.CheckForm). No signature is
// verified and nothing is looked up, so that a transport can run it as a
// call's headers arrive and refuse, before reading its body, a call that
// Decide would refuse with the same error (interceptors.TapHandle). A call
// it lets through must still be decided by Decide.
func (g *Guard) Precheck(call Call) error {
	res := g.policy.resolution(call.Method)
	if res.invalid != nil {
		return fmt.Errorf("method %s: %w", call.Method, res.invalid)
	}
	req := res.rule.Requirement
	if req == Public {
		return nil
	}
	cred, err := g.credential(call, req)
	if err == errNoToken && req == Optional {
		return nil
	}
	if err != nil {
		return err
	}
	if cred.dpop {
		if err := dpop.CheckForm(call.DPoP); err != nil {
			return err
		}
	}
	return token.CheckForm(cred.raw)
}

// DecideRule is Decide with rule instead of the method's: what a method
// declaring rule would answer (AuthService.Verify asks it).
func (g *Guard) DecideRule(ctx context.Context, rule Rule, call Call) (Decision, error) {
	if rule.Requirement == unspecified {
		rule.Requirement = Access
	}
	if err := rule.check(); err != nil {
		return Decision{}, err
	}
	return g.decide(ctx, rule, call)
}

func (g *Guard) decide(ctx context.Context, rule Rule, call Call) (Decision, error) {
	req := rule.Requirement
	if req == Public {
		return Decision{}, nil
	}
	cred, err := g.credential(call, req)
	if err == errNoToken && req == Optional {
		return Decision{}, nil
	}
	if err != nil {
		return Decision{}, err
	}
	claims, jkt, err := g.authenticate(ctx, cred, req, call)
	if err != nil {
		return Decision{}, err
	}
	if rule.SenderConstrained && claims.Confirmation == nil {
		return Decision{}, ErrSenderConstrained
	}
	// Authorization after authentication: a caller without a token hears
	// TOKEN_MISSING, one with an expired token TOKEN_EXPIRED, before any
	// PermissionDenied.
	if err := rule.permits(claims, g.clock.Now()); err != nil {
		return Decision{}, err
	}
	if req == FreshAccess && !claims.SecondFactor() && g.grantedByStrongRole(rule, claims) {
		return Decision{}, StepUpRequired(Rule{SecondFactor: true})
	}
	return Decision{Claims: claims, requirement: req, token: cred.raw, fromCookie: cred.fromCookie, jkt: jkt}, nil
}

// credential is the token a call presents, and how.
type credential struct {
	raw        string
	fromCookie bool
	dpop       bool // sent as "DPoP <token>"
}

// grantedByStrongRole reports whether rule lets claims in by a role of
// Config.SecondFactorRoles the token holds: what such a role grants needs
// a second factor; what the rule grants to anyone (enrolling one, say)
// does not.
func (g *Guard) grantedByStrongRole(rule Rule, claims *token.Claims) bool {
	return slices.ContainsFunc(rule.AnyRole, func(r string) bool {
		return slices.Contains(g.strongRoles, r) && claims.HasRole(r)
	})
}

// credential returns the call's token: its authorization header's when
// it has one (cookies are then never read), else, with Config.Cookies, the
// cookie req takes, once the CSRF header has matched.
func (g *Guard) credential(call Call, req Requirement) (credential, error) {
	if len(call.Authorization) > 0 || g.cookies == nil || len(call.Cookie) == 0 {
		raw, isDPoP, err := authorization(call.Authorization, g.dpop != nil)
		return credential{raw: raw, dpop: isDPoP}, err
	}
	var names []string
	switch req {
	case Refresh:
		names = []string{g.cookies.Refresh}
	case anyToken:
		names = []string{g.cookies.Access, g.cookies.Refresh}
	default:
		names = []string{g.cookies.Access}
	}
	raw, err := g.cookies.token(call, names...)
	return credential{raw: raw, fromCookie: err == nil}, err
}

// Authenticate returns the claims of call's token, of either type, once
// verified, its binding proven and its session found live: what every rule
// checks first. Logout, which takes an access or a refresh token, asks it.
func (g *Guard) Authenticate(ctx context.Context, call Call) (*token.Claims, error) {
	cred, err := g.credential(call, anyToken)
	if err != nil {
		return nil, err
	}
	claims, _, err := g.authenticate(ctx, cred, anyToken, call)
	return claims, err
}

// authenticate returns the claims of cred's token and the thumbprint of
// the key the call proved it holds ("" when the token is bound to none).
func (g *Guard) authenticate(ctx context.Context, cred credential, req Requirement, call Call) (*token.Claims, string, error) {
	if cred.dpop {
		// The proof's form first, as Precheck checks it.
		if err := dpop.CheckForm(call.DPoP); err != nil {
			return nil, "", err
		}
	}
	claims, err := g.verify(ctx, cred.raw)
	if err != nil {
		return nil, "", err
	}
	switch req {
	case Refresh:
		if claims.Type != token.Refresh {
			return nil, "", ErrRefreshRequired
		}
	case FreshAccess:
		if claims.Type != token.Access {
			return nil, "", ErrAccessRequired
		}
		if !g.fresh(claims) {
			return nil, "", ErrFreshRequired
		}
	case Access, Optional:
		if claims.Type != token.Access {
			return nil, "", ErrAccessRequired
		}
	case anyToken:
	default:
		return nil, "", fmt.Errorf("unknown requirement %d", req) // fails closed as Internal
	}
	// The cache holds what the token says, never what the call proves: a
	// bound token's proof is checked on every call, cached or not.
	jkt, err := g.binding(claims, cred, call)
	if err != nil {
		return nil, "", err
	}
	if g.revocations != nil {
		revoked, err := g.revocations.Revoked(ctx, claims)
		if err != nil {
			return nil, "", fmt.Errorf("%w: %w", ErrUnavailable, err)
		}
		if revoked {
			return nil, "", ErrRevoked
		}
	}
	return claims, jkt, nil
}

func (g *Guard) fresh(c *token.Claims) bool {
	now := g.clock.Now()
	if c.FreshAt(now) {
		return true
	}
	auth := c.AuthenticatedAt()
	return g.freshMaxAge > 0 && !auth.IsZero() && now.Sub(auth) < g.freshMaxAge
}

// verify checks raw, or finds it in the cache of verified tokens: an entry
// is served until the earlier of the token's exp and maxCacheAge after its
// verification, and only while the verifier's keys are those it was
// verified with.
func (g *Guard) verify(ctx context.Context, raw string) (*token.Claims, error) {
	if g.cache == nil || len(raw) > token.MaxLength {
		return g.verifier.Verify(ctx, raw)
	}
	key := sha256.Sum256([]byte(raw))
	generation := g.keysGeneration()
	if v, ok := g.cache.Get(key, g.clock.Now()); ok && v.generation == generation {
		return v.claims, nil
	}
	claims, err := g.verifier.Verify(ctx, raw)
	if err != nil {
		return nil, err
	}
	if g.generation.Swap(generation) != generation {
		g.cache.Clear() // the keys changed: forget what the old ones verified
	}
	now := g.clock.Now()
	g.cache.Put(key, verified{claims: claims, generation: generation}, earliest(claims.Expiry(), now.Add(maxCacheAge)), now)
	return claims, nil
}

// keysGeneration is the verifier's KeysGeneration (token.Verifier has
// one), 0 when it cannot tell: the cache then relies on its age bound.
func (g *Guard) keysGeneration() uint64 {
	if v, ok := g.verifier.(interface{ KeysGeneration() uint64 }); ok {
		return v.KeysGeneration()
	}
	return 0
}

func earliest(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}
