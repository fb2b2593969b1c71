package interceptors

import (
	"time"

	"google.golang.org/protobuf/reflect/protoregistry"

	"github.com/authd-dev/authd/clock"
	"github.com/authd-dev/authd/revocation"
)

// Option configures an Authenticator.
type Option func(*config)

type config struct {
	methods        map[string]Rule
	services       map[string]Rule
	files          *protoregistry.Files
	fallback       Requirement
	clock          clock.Clock
	cacheSize      int
	revocations    revocation.Checker
	freshMaxAge    time.Duration
	streamExpiry   bool
	streamRecheck  time.Duration
	renewer        Renewer
	renewThreshold float64
}

func defaultConfig() config {
	return config{
		methods:       map[string]Rule{},
		services:      map[string]Rule{},
		files:         protoregistry.GlobalFiles,
		fallback:      Access,
		clock:         clock.System(),
		cacheSize:     10000,
		streamExpiry:  true,
		streamRecheck: DefaultStreamRevocationCheck,
	}
}

// WithMethod declares the requirement, or the whole Rule, of one method
// ("/pkg.Service/Method"), overriding its proto options:
//
//	interceptors.WithMethod("/shop.v1.Orders/Cancel", interceptors.FreshAccess)
//	interceptors.WithMethod("/shop.v1.Orders/Refund", interceptors.Rule{AnyRole: []string{"admin"}})
func WithMethod[D Declaration](fullMethod string, d D) Option {
	r := toRule(d)
	return func(c *config) { c.methods[fullMethod] = r }
}

// WithMethods sets the requirements of several methods, as WithMethod.
func WithMethods(reqs map[string]Requirement) Option {
	return func(c *config) {
		for m, r := range reqs {
			c.methods[m] = Rule{Requirement: r}
		}
	}
}

// WithService declares the requirement, or the whole Rule, of every method
// of a service ("pkg.Service") that has no WithMethod override, overriding
// proto options.
func WithService[D Declaration](service string, d D) Option {
	r := toRule(d)
	return func(c *config) { c.services[service] = r }
}

// WithPublicHealthAndReflection makes the gRPC health and reflection
// services public, so probes and grpcurl work without a token.
func WithPublicHealthAndReflection() Option {
	return func(c *config) {
		for _, s := range healthAndReflection {
			c.services[s] = Rule{Requirement: Public}
		}
	}
}

// WithDefault sets the requirement of methods that declare none. The
// default is Access: an undeclared method is never open by accident.
//
// The default also applies to methods no service registers (reached
// through an UnknownServiceHandler, whatever name a caller invents), and
// CheckServer still names methods that rely on it: WithDefault(Public)
// opens all of them. REQUIREMENT_UNSPECIFIED means Access; an unknown value
// refuses every call.
func WithDefault(req Requirement) Option {
	return func(c *config) {
		if req == unspecified {
			req = Access
		}
		c.fallback = req
	}
}

// WithFiles reads proto options from files instead of protoregistry.GlobalFiles.
func WithFiles(files *protoregistry.Files) Option { return func(c *config) { c.files = files } }

// WithClock sets the time source (default the system clock).
func WithClock(clk clock.Clock) Option { return func(c *config) { c.clock = clk } }

// WithCacheSize bounds the verified-token cache (default 10000 entries); 0
// turns it off.
func WithCacheSize(n int) Option { return func(c *config) { c.cacheSize = n } }

// WithRevocations checks every verified token against r, after the cache
// (see package revocation). A check that fails makes the call fail closed
// with Unavailable.
func WithRevocations(r revocation.Checker) Option { return func(c *config) { c.revocations = r } }

// WithFreshMaxAge also counts an access token as fresh when its auth_time is
// within d, whatever its fresh claim says (a "fresh-for" window).
func WithFreshMaxAge(d time.Duration) Option { return func(c *config) { c.freshMaxAge = d } }

// DefaultStreamRevocationCheck is how often an open stream's session is
// checked again: a revoked session's streams end within it plus the
// checker's own staleness (authd's cache: 1 s; a Poller: its interval).
const DefaultStreamRevocationCheck = time.Second

// WithStreamRevocationCheck sets how often, with WithRevocations, an open
// stream's session is checked again (default DefaultStreamRevocationCheck).
func WithStreamRevocationCheck(d time.Duration) Option {
	return func(c *config) {
		if d > 0 {
			c.streamRecheck = d
		}
	}
}

// WithStreamExpiry sets whether a stream is ended with TOKEN_EXPIRED when its
// token expires while it is open (default true).
func WithStreamExpiry(on bool) Option { return func(c *config) { c.streamExpiry = on } }
