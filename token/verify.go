package token

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/authd-dev/authd/clock"
)

// MaxLength is the longest token Verify will look at; longer ones are refused
// before any decoding.
const MaxLength = 8 << 10

// Bounds on how far in the future a token's exp may be: a token living
// longer than any authd mints was forged with a stolen key or minted by a
// broken issuer. DefaultMaxLifetime is authd's default session cap (no
// token it mints outlives its session); HS256 verifiers default to
// HS256MaxLifetime, since flask-jwt-extended's refresh tokens live 30 days.
// WithMaxLifetime sets another.
const (
	DefaultMaxLifetime = 168 * time.Hour
	HS256MaxLifetime   = 366 * 24 * time.Hour
)

// MaxLeeway bounds the clock skew a Verifier may tolerate.
const MaxLeeway = 60 * time.Second

// Verifier checks tokens strictly (RFC 8725): one algorithm, a known kid,
// exp required, iss and aud checked, nbf and iat honoured, strict base64,
// size bounded before parsing, and no crit/jku/jwk/x5u/x5c headers.
type Verifier struct {
	keys        KeySource
	clock       clock.Clock
	parser      *jwt.Parser
	maxLifetime time.Duration
	requireSID  bool
	untyped     bool // tokens typed JWT or untyped accepted (HS256, WithUntypedTokens)
}

// VerifierOption configures a Verifier.
type VerifierOption func(*verifierConfig)

type verifierConfig struct {
	issuer      string
	audience    string
	leeway      time.Duration
	clock       clock.Clock
	maxLifetime time.Duration
	untyped     bool
}

// WithIssuer sets the required iss (default "authd").
func WithIssuer(iss string) VerifierOption { return func(c *verifierConfig) { c.issuer = iss } }

// WithAudience sets the audience that aud must contain (default "authd").
func WithAudience(aud string) VerifierOption { return func(c *verifierConfig) { c.audience = aud } }

// WithLeeway tolerates clock skew on exp, nbf and iat; at most MaxLeeway.
func WithLeeway(d time.Duration) VerifierOption { return func(c *verifierConfig) { c.leeway = d } }

// WithClock sets the time source (default the system clock).
func WithClock(clk clock.Clock) VerifierOption { return func(c *verifierConfig) { c.clock = clk } }

// WithMaxLifetime refuses tokens whose exp is more than d away: set it to
// the longest lifetime the issuer mints (authd: --session-max).
func WithMaxLifetime(d time.Duration) VerifierOption {
	return func(c *verifierConfig) { c.maxLifetime = d }
}

// WithUntypedTokens also accepts tokens whose JOSE typ is JWT, or absent,
// as authd minted them before it typed its tokens (at+jwt, refresh+jwt),
// as HS256 verifiers always do (flask-jwt-extended writes them so); their
// type claim still tells access from refresh. It is for the upgrade only:
// a verifier with it accepts both the tokens of an authd not yet upgraded
// and those of one that is, so that consumers and authd instances can be
// upgraded in any order; once every token minted before the upgrade has
// expired (the session cap, 168 h by default), drop it.
func WithUntypedTokens() VerifierOption { return func(c *verifierConfig) { c.untyped = true } }

// DefaultIssuer is the iss and aud authd uses unless configured.
const DefaultIssuer = "authd"

// NewVerifier returns a Verifier that takes its keys from keys.
func NewVerifier(keys KeySource, opts ...VerifierOption) (*Verifier, error) {
	cfg := verifierConfig{issuer: DefaultIssuer, audience: DefaultIssuer, clock: clock.System()}
	for _, opt := range opts {
		opt(&cfg)
	}
	switch {
	case cfg.leeway < 0 || cfg.leeway > MaxLeeway:
		return nil, fmt.Errorf("leeway %s is outside [0, %s]", cfg.leeway, MaxLeeway)
	case cfg.issuer == "" || cfg.audience == "":
		return nil, errors.New("issuer and audience must not be empty")
	case keys.Algorithm() != EdDSA && keys.Algorithm() != HS256:
		return nil, fmt.Errorf("unsupported algorithm %q", keys.Algorithm())
	}
	if cfg.maxLifetime <= 0 {
		cfg.maxLifetime = DefaultMaxLifetime
		if keys.Algorithm() == HS256 {
			cfg.maxLifetime = HS256MaxLifetime
		}
	}
	// With EdDSA every token authd mints has a session: one without could
	// never be revoked. Tokens without sid are HS256 interop only.
	v := &Verifier{keys: keys, clock: cfg.clock, maxLifetime: cfg.maxLifetime, requireSID: keys.Algorithm() == EdDSA,
		untyped: cfg.untyped || keys.Algorithm() == HS256}
	v.parser = jwt.NewParser(
		jwt.WithValidMethods([]string{keys.Algorithm()}),
		jwt.WithIssuer(cfg.issuer),
		jwt.WithAudience(cfg.audience),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		jwt.WithLeeway(cfg.leeway),
		jwt.WithTimeFunc(cfg.clock.Now),
		jwt.WithStrictDecoding(),
	)
	return v, nil
}

// Verify checks raw and returns its claims. Every error wraps ErrInvalid,
// ErrExpired or ErrKeysUnavailable; a token is only reported expired when
// nothing else is wrong with it, so that a client never refreshes in answer
// to a forgery.
func (v *Verifier) Verify(ctx context.Context, raw string) (*Claims, error) {
	if len(raw) > MaxLength {
		return nil, ErrTooLarge
	}
	if err := checkSpelling(raw); err != nil {
		return nil, err
	}
	claims := new(Claims)
	parsed, err := v.parser.ParseWithClaims(raw, claims, func(t *jwt.Token) (any, error) {
		return v.key(ctx, t)
	})
	if err != nil {
		err = classify(err)
		if err == ErrExpired && parsed != nil {
			// Signed with a known key, and expired: a wrong typ is said
			// first, so that a client never refreshes in answer to it.
			if terr := v.checkTyp(parsed.Header, claims.Type); terr != nil {
				return nil, terr
			}
		}
		return nil, err
	}
	if err := v.checkTyp(parsed.Header, claims.Type); err != nil {
		return nil, err
	}
	if claims.Expiry().Sub(v.clock.Now()) > v.maxLifetime {
		return nil, fmt.Errorf("%w: exp is more than %s away", ErrInvalid, v.maxLifetime)
	}
	if v.requireSID && claims.SessionID == "" {
		return nil, fmt.Errorf("%w: no sid claim: the token belongs to no session and could not be revoked", ErrInvalid)
	}
	return claims, nil
}

// KeysGeneration returns a number that changes whenever the verifier's
// keys change (a rotation, a revoked key, a refetched JWKS), so that caches
// of verified tokens know to forget them; 0 when the key source cannot
// tell.
func (v *Verifier) KeysGeneration() uint64 {
	if g, ok := v.keys.(interface{ Generation() uint64 }); ok {
		return g.Generation()
	}
	return 0
}

// forbiddenHeaders are JOSE header parameters that would let a token choose
// its own key or change how it is processed (RFC 8725 sections 2.3, 3.10).
var forbiddenHeaders = []string{"crit", "jku", "jwk", "x5u", "x5c", "x5t", "x5t#S256", "b64", "zip", "enc"}

func (v *Verifier) key(ctx context.Context, t *jwt.Token) (any, error) {
	for _, name := range forbiddenHeaders {
		if _, ok := t.Header[name]; ok {
			return nil, fmt.Errorf("%w: %s", ErrForbiddenHeader, name)
		}
	}
	if typ, ok := t.Header["typ"]; ok {
		if _, isString := typ.(string); !isString {
			return nil, fmt.Errorf("%w: typ", ErrForbiddenHeader)
		}
	}
	kid := ""
	if raw, ok := t.Header["kid"]; ok {
		s, isString := raw.(string)
		if !isString || s == "" {
			return nil, ErrUnknownKey
		}
		kid = s
	}
	if kid == "" && v.keys.Algorithm() != HS256 {
		return nil, ErrUnknownKey
	}
	return v.keys.VerificationKey(ctx, kid)
}

// ErrWrongTyp: the token's typ header is not the one of its type claim
// (at+jwt for access tokens, refresh+jwt for refresh tokens), or, with
// EdDSA, it is missing or a bare JWT. Verified after the signature, so
// that it only ever describes a token signed with a known key.
var ErrWrongTyp = fmt.Errorf("%w: typ header does not match the type claim", ErrInvalid)

// checkTyp checks the explicit typing of RFC 8725 section 3.11: typ must
// be the one of the type claim, compared as media types are (case
// insensitively, an "application/" prefix omitted). Untyped tokens and
// typ JWT, as flask-jwt-extended writes them, are accepted with HS256
// only, the interop mode, or WithUntypedTokens; every token authd mints
// is typed.
func (v *Verifier) checkTyp(header map[string]any, typ Type) error {
	raw, present := header["typ"].(string)
	got := strings.ToLower(strings.TrimPrefix(strings.ToLower(raw), "application/"))
	switch {
	case got == typ.Typ() && got != "":
		return nil
	case (!present || got == "jwt") && v.untyped:
		return nil
	case !present:
		return fmt.Errorf("%w: no typ (want %q for a token of type %q)", ErrWrongTyp, typ.Typ(), typ)
	}
	return fmt.Errorf("%w: typ %q, type %q", ErrWrongTyp, raw, typ)
}

// claimErrors are golang-jwt's claim failures other than expiry.
var claimErrors = []error{
	jwt.ErrTokenInvalidAudience, jwt.ErrTokenInvalidIssuer, jwt.ErrTokenNotValidYet,
	jwt.ErrTokenUsedBeforeIssued, jwt.ErrTokenRequiredClaimMissing,
	jwt.ErrTokenInvalidSubject, jwt.ErrTokenInvalidId, ErrInvalid,
}

func classify(err error) error {
	if errors.Is(err, jwt.ErrTokenExpired) && !isAny(err, claimErrors) {
		return ErrExpired
	}
	// Keep our own, more specific reasons (unknown kid, forbidden header).
	for _, ours := range []error{ErrKeysUnavailable, ErrUnknownKey, ErrForbiddenHeader, ErrMalformed} {
		if errors.Is(err, ours) {
			return ours
		}
	}
	return fmt.Errorf("%w: %v", ErrInvalid, err)
}

func isAny(err error, targets []error) bool {
	for _, t := range targets {
		if errors.Is(err, t) {
			return true
		}
	}
	return false
}
