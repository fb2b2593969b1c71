package guard

import (
	"time"

	"google.golang.org/protobuf/reflect/protoregistry"

	"github.com/authd-dev/authd/clock"
	"github.com/authd-dev/authd/dpop"
)

// Config is what a Guard enforces and how. Its zero value is the strict
// default: every method must declare a requirement in its .proto (an
// undeclared one needs an access token), no revocation check, no renewal.
type Config struct {
	// Methods declares rules in Go, by full method name
	// ("/pkg.Service/Method"), over the methods' proto options:
	//
	//	Methods: map[string]guard.Rule{
	//		"/shop.v1.Orders/Cancel": {Requirement: guard.FreshAccess},
	//		"/shop.v1.Orders/Refund": {AnyRole: []string{"admin"}},
	//	}
	Methods map[string]Rule
	// Services declares the rule of every method of a service
	// ("pkg.Service") that has no rule of its own in Methods, over proto
	// options.
	Services map[string]Rule
	// PublicHealthAndReflection makes the gRPC health and reflection
	// services public, so that probes and grpcurl work without a token.
	PublicHealthAndReflection bool
	// Files is where proto options are read (nil: protoregistry.GlobalFiles).
	Files *protoregistry.Files
	// Default is the requirement of methods that declare none (unspecified:
	// Access, so that nothing is open by accident). It also applies to
	// methods no service declares (an unknown-service handler, whatever
	// name a caller invents), and CheckMethods still names the methods that
	// rely on it: Default Public opens all of them.
	Default Requirement

	// Cookies, when set, also takes tokens from a browser session's
	// cookies (LoginRequest.set_cookies), for calls without an
	// authorization header: the access cookie for ACCESS, FRESH_ACCESS and
	// OPTIONAL methods, the refresh cookie for REFRESH methods, and only
	// when the call's CSRF header (wire.CSRFHeader) equals the CSRF cookie
	// (ErrCSRF otherwise, before anything else). nil: cookies are never
	// read. DefaultCookies() names authd's.
	Cookies *Cookies

	// Revocations, when set, is asked about every verified token, after
	// the cache; an error fails the call closed (ErrUnavailable).
	Revocations Revocations
	// StreamRevocationCheck is how often an open stream's session is asked
	// about again (0: DefaultStreamRevocationCheck).
	StreamRevocationCheck time.Duration

	// SecondFactorRoles makes "fresh" mean "fresh and strong" for what
	// these roles grant: a FRESH_ACCESS call let in by one of them (its
	// rule's AnyRole names it and the token holds it) is also refused with
	// ErrStepUpRequired unless the token shows a second factor (authd's
	// --second-factor-roles: with authd:admin, every AdminService change
	// needs one). Methods open to every fresh token — enrolling a second
	// factor among them — are left as they are, so that a holder can
	// enrol one.
	SecondFactorRoles []string

	// FreshMaxAge also counts an access token as fresh when its auth_time
	// is within it, whatever its fresh claim says (a "fresh-for" window).
	FreshMaxAge time.Duration

	// Renewer, when set, turns sliding sessions on: an ACCESS or OPTIONAL
	// call whose access token has used more than RenewalThreshold of its
	// lifetime gets a renewed token to hand back (Guard.Renewal). Tokens
	// without a session, refresh tokens and FRESH_ACCESS calls are never
	// renewed.
	Renewer Renewer
	// RenewalThreshold is the part of a token's life after which it is
	// renewed (0, or outside (0, 1): DefaultRenewalThreshold).
	RenewalThreshold float64
	// RenewalTimeout bounds one renewal, which runs detached from the call
	// that asked for it so that other calls can share it (0:
	// DefaultRenewalTimeout). A call never waits past its own deadline.
	RenewalTimeout time.Duration

	// DPoP, when set, accepts tokens bound to a key (cnf.jkt) as
	// "DPoP <token>" with a proof of the key on every call (RFC 9449),
	// checked by this verifier, whose replay cache makes each proof
	// single-use: one per server. nil: the DPoP scheme is not accepted,
	// and neither are tokens bound to a key.
	DPoP *dpop.Verifier
	// PublicAuthority is the authority clients address ("host[:port]",
	// or "https://host[:port]" to fix the scheme too), which their proofs'
	// htu name, for a server behind a proxy or under another name than
	// the :authority it receives ("": Call.Authority and Call.Scheme).
	PublicAuthority string

	// CacheSize bounds the verified-token cache (0: DefaultCacheSize;
	// negative: no cache).
	CacheSize int
	// Clock is the time source (nil: the system clock).
	Clock clock.Clock
}

// Defaults of Config.
const (
	DefaultStreamRevocationCheck = time.Second
	DefaultRenewalThreshold      = 0.5
	DefaultRenewalTimeout        = 5 * time.Second
	DefaultCacheSize             = 10000
)
