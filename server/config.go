package server

import (
	"fmt"
	"log/slog"
	"net/netip"
	"runtime"
	"strings"
	"time"

	"github.com/authd-dev/authd/accounts"
	"github.com/authd-dev/authd/clock"
	"github.com/authd-dev/authd/password"
	"github.com/authd-dev/authd/session"
	"github.com/authd-dev/authd/store"
	"github.com/authd-dev/authd/token"
)

// Config is everything a running authd is made of. Start from Defaults:
// the zero Config is not valid. cmd/authd maps its flags, environment and
// config file onto it, each setting under the flag's name
// (docs/configuration.md).
type Config struct {
	// Addr is the gRPC listen address (--addr).
	Addr string
	// HTTPAddr serves the JWKS, discovery, health, readiness and metrics
	// over HTTP, HTTPS with TLSCert ("": off; --http-addr).
	HTTPAddr string
	// HTTPPlaintext serves the HTTP listeners without TLS even with
	// TLSCert, behind a TLS-terminating proxy (--http-plaintext).
	HTTPPlaintext bool
	// MetricsAddr serves /metrics there instead of on HTTPAddr
	// (--metrics-addr).
	MetricsAddr string
	// PProf also serves Go's profiles on MetricsAddr, which it requires
	// (--pprof).
	PProf bool
	// PublicURL is the external URL of the HTTP listener (--public-url):
	// the issuer of the discovery document, which names jwks_uri under it.
	// "": no discovery document (404), since authd cannot know the URL it
	// is reached at and never takes it from a request.
	PublicURL string
	// CORSOrigins are the origins (scheme://host[:port]) whose pages may
	// call AuthService on HTTPAddr with credentials, its cookies included
	// (--cors-origins; ParseOrigins reads the flag). A request from any
	// other origin is refused (calls without an Origin header, from
	// grpcurl, curl or a Go client, are no browser's and pass). None: no
	// browser page may call.
	CORSOrigins []string
	// WebAuthnRPID is the relying party ID passkeys are registered with
	// (--webauthn-rp-id): the page's host name or a registrable domain
	// above it ("example.com", "localhost"), never an IP address.
	// WebAuthnOrigins are the origins of the pages that may run the
	// passkey ceremonies (--webauthn-origins; ParseOrigins reads the
	// flag), each on WebAuthnRPID or under it. Both or neither: without
	// them the passkey methods answer FAILED_PRECONDITION.
	WebAuthnRPID    string
	WebAuthnOrigins []string

	// DataDir holds the SQLite database and the signing-key files
	// (--data-dir).
	DataDir string
	// DB is the database: "" for SQLite in DataDir, "sqlite:PATH", or
	// "postgres://…" for instances sharing PostgreSQL (--db).
	DB string
	// SQLiteSynchronous is "full" (every commit synced) or "normal"
	// (--sqlite-synchronous).
	SQLiteSynchronous string
	// KeyEncryptionKey seals the signing keys kept in a shared database
	// (at least 32 bytes, the same on every instance;
	// --key-encryption-key-file or AUTHD_KEY_ENCRYPTION_KEY).
	KeyEncryptionKey []byte
	// Redis shares the login-attempt counters and carries the revocation
	// feed ("": off; --redis).
	Redis string
	// Store, when set, is the store to use instead of opening DB: an
	// embedder's own. The Server does not close it.
	Store store.Store
	// AllowInsecurePermissions starts even when the data dir, the
	// database or the signing keys are open to group or others or owned
	// by another user, which New otherwise refuses
	// (--allow-insecure-permissions).
	AllowInsecurePermissions bool

	// Issuer and Audience are stamped on every token and required when
	// verifying (--issuer, --audience). With a PublicURL the issuer is that
	// URL: an empty Issuer takes it, and another is refused.
	Issuer, Audience string
	// AccessTTL, RefreshTTL and SessionMax are the token lifetimes and the
	// session cap (--access-ttl, --refresh-ttl, --session-max).
	AccessTTL, RefreshTTL, SessionMax time.Duration
	// Leeway is the clock skew tolerated on exp, nbf and iat, at most
	// token.MaxLeeway (--leeway).
	Leeway time.Duration
	// RefreshReuseGrace is how long after a refresh token's successor was
	// first used the spent token is still refused without revoking the
	// session (REFRESH_SUPERSEDED) rather than taken for reuse; 0 is
	// strict. A spent token whose successor is unused gets it again
	// however long after (--refresh-reuse-grace; session.Config.ReuseGrace).
	RefreshReuseGrace time.Duration
	// MaxSessionsPerUser bounds each account's live sessions: a login past
	// it revokes the oldest (--max-sessions-per-user).
	MaxSessionsPerUser int
	// RefreshRotation rotates refresh tokens at every refresh
	// (--refresh-rotation).
	RefreshRotation bool
	// AcceptUntypedTokens also accepts tokens typed JWT or untyped, as
	// authd minted them before it typed its tokens, for the upgrade
	// (token.WithUntypedTokens; --accept-untyped-tokens).
	AcceptUntypedTokens bool
	// MintUntypedTokens signs tokens with typ JWT, as authd did before it
	// typed them, so that instances not yet upgraded accept them while a
	// fleet is rolled (keys.Signer.Untyped; --mint-untyped-tokens). It
	// implies AcceptUntypedTokens.
	MintUntypedTokens bool
	// HS256Secret signs and verifies with HS256 instead of Ed25519, for
	// flask-jwt-extended interop (at least 32 bytes; --hs256-secret-file).
	HS256Secret []byte
	// Claims adds an embedder's claims to every access token.
	Claims session.ClaimsHook

	// TLSCert and TLSKey are the certificate files of gRPC and the HTTP
	// listeners, reloaded when they change; ClientCA asks gRPC clients for
	// a certificate chaining to it (--tls-cert, --tls-key, --client-ca).
	TLSCert, TLSKey, ClientCA string
	// CertCheckInterval is how often the certificate files are checked for
	// a change (0: every 2 s).
	CertCheckInterval time.Duration
	// KeyReloadInterval is how often the signing keys are re-read, which
	// bounds how long an instance takes to publish a key `authd keys
	// rotate` added, or to drop a revoked one (0: every minute). A rotated
	// key's propagation delay must exceed it.
	KeyReloadInterval time.Duration

	// TrustedProxies are the proxies whose x-forwarded-for / forwarded
	// metadata names the client for login throttling (--trusted-proxies).
	TrustedProxies []netip.Prefix
	// DPoPRequireNonce makes authd's DPoP proofs carry a nonce it issued
	// (RFC 9449 §8; --dpop-nonce): a proof without one is refused
	// DPOP_NONCE_REQUIRED with a fresh nonce in dpop-nonce. Instances with
	// the same key-encryption secret accept each other's nonces.
	DPoPRequireNonce bool
	// PublicAuthority is the authority ("host:port", or
	// "https://host:port" behind a TLS-terminating proxy) clients address
	// authd's gRPC port by, when it is not the one authd receives
	// (--public-authority): DPoP proofs name it in their htu.
	PublicAuthority string
	// SecondFactorRoles are the roles whose grants need a second factor
	// where they need a fresh token (--second-factor-roles): with
	// authd:admin, every AdminService change (guard.Config.SecondFactorRoles).
	SecondFactorRoles []string
	// Hash is the argon2id cost of new hashes (--hash-memory,
	// --hash-iterations); HashConcurrency bounds the hashes computed at
	// once (--hash-concurrency).
	Hash            password.Params
	HashConcurrency int

	// MaxConnections and MaxConnectionsPerAddress bound the connections
	// each listener (gRPC, HTTP, metrics) holds at once, in all and from
	// one remote address (IPv6 by its /64); a connection past either is
	// closed as soon as it is accepted (0: DefaultMaxConnections,
	// DefaultMaxConnectionsPerAddress; --max-connections,
	// --max-connections-per-address).
	MaxConnections, MaxConnectionsPerAddress int
	// HandshakeTimeout bounds a new connection's TLS handshake and HTTP/2
	// preface (gRPC) or request headers (HTTP); a connection that has not
	// completed them is closed (0: DefaultHandshakeTimeout;
	// --handshake-timeout).
	HandshakeTimeout time.Duration

	// Logger gets authd's log lines (nil: slog.Default()).
	Logger *slog.Logger
	// Clock is the time source of tokens, sessions and the maintenance
	// loops (nil: the system clock).
	Clock clock.Clock
}

// Defaults of the connection bounds. A gRPC client multiplexes its calls
// over one connection, so even a proxy or a NAT in front of many clients
// needs few; 256 from one address and 4096 in all keep one host from
// exhausting authd's descriptors (each listener has its own). 5 s is ample
// for a handshake on any network a client should log in over; grpc-go's
// own default is 120 s.
const (
	DefaultMaxConnections           = 4096
	DefaultMaxConnectionsPerAddress = 256
	DefaultHandshakeTimeout         = 5 * time.Second
)

// Defaults returns authd's defaults: the values of its flags when none is
// given.
func Defaults() Config {
	return Config{
		Addr:               "127.0.0.1:50051",
		DataDir:            "./data",
		SQLiteSynchronous:  "full",
		Issuer:             token.DefaultIssuer,
		Audience:           token.DefaultIssuer,
		AccessTTL:          session.DefaultAccessTTL,
		RefreshTTL:         session.DefaultRefreshTTL,
		SessionMax:         session.DefaultSessionMax,
		RefreshReuseGrace:  session.DefaultReuseGrace,
		MaxSessionsPerUser: session.DefaultMaxSessions,
		RefreshRotation:    true,
		Hash:               password.DefaultParams,
		HashConcurrency:    runtime.GOMAXPROCS(0),

		MaxConnections:           DefaultMaxConnections,
		MaxConnectionsPerAddress: DefaultMaxConnectionsPerAddress,
		HandshakeTimeout:         DefaultHandshakeTimeout,
	}
}

// withConnectionDefaults gives the connection bounds left zero their
// defaults.
func (c Config) withConnectionDefaults() Config {
	if c.MaxConnections == 0 {
		c.MaxConnections = DefaultMaxConnections
	}
	if c.MaxConnectionsPerAddress == 0 {
		c.MaxConnectionsPerAddress = DefaultMaxConnectionsPerAddress
	}
	if c.HandshakeTimeout == 0 {
		c.HandshakeTimeout = DefaultHandshakeTimeout
	}
	return c
}

// ConfigError is a setting Validate refuses: one that can never work,
// whatever the machine. cmd/authd reports it as a usage error.
type ConfigError struct{ Msg string }

func (e *ConfigError) Error() string { return e.Msg }

// Validate reports what is wrong with the settings, if anything, without
// opening or reading anything: a configuration it accepts fails at start
// only for what the machine says (files, the database, Redis).
func (c Config) Validate() error {
	invalid := func(format string, args ...any) error {
		return &ConfigError{Msg: fmt.Sprintf(format, args...)}
	}
	switch {
	case c.AccessTTL <= 0 || c.RefreshTTL <= 0 || c.SessionMax <= 0:
		return invalid("token lifetimes must be positive")
	case c.Leeway < 0 || c.Leeway > token.MaxLeeway:
		return invalid("leeway %s is outside [0, %s]", c.Leeway, token.MaxLeeway)
	case c.Audience == "":
		return invalid("issuer and audience must not be empty")
	case c.PProf && c.MetricsAddr == "":
		return invalid("--pprof needs --metrics-addr (profiles are never served beside the JWKS)")
	case c.MaxConnections < 0 || c.MaxConnectionsPerAddress < 0 || c.HandshakeTimeout < 0:
		return invalid("--max-connections, --max-connections-per-address and --handshake-timeout must be positive")
	case c.MaxConnectionsPerAddress > c.MaxConnections && c.MaxConnections > 0:
		return invalid("--max-connections-per-address %d is over --max-connections %d", c.MaxConnectionsPerAddress, c.MaxConnections)
	case c.TLSCert == "" && c.TLSKey == "" && c.ClientCA != "":
		return invalid("--client-ca needs --tls-cert and --tls-key")
	case (c.TLSCert == "") != (c.TLSKey == ""):
		return invalid("--tls-cert and --tls-key go together")
	case c.Store == nil && c.SQLiteSynchronous != "full" && c.SQLiteSynchronous != "normal":
		return invalid("--sqlite-synchronous %q: want full or normal", c.SQLiteSynchronous)
	}
	if c.MaxSessionsPerUser < 1 {
		return invalid("--max-sessions-per-user must be at least 1")
	}
	if err := (session.Config{AccessTTL: c.AccessTTL, RefreshTTL: c.RefreshTTL, SessionMax: c.SessionMax, ReuseGrace: c.RefreshReuseGrace, MaxSessions: c.MaxSessionsPerUser}).Validate(); err != nil {
		return invalid("%v", err)
	}
	if _, err := password.NewHasher(c.Hash, c.HashConcurrency); err != nil {
		return invalid("%v", err)
	}
	if c.Store == nil && c.DB != "" && !strings.HasPrefix(c.DB, "sqlite:") && !c.shared() {
		return invalid("--db %q: want empty, sqlite:PATH or postgres://…", redactDSN(c.DB))
	}
	if err := c.checkIssuer(); err != nil {
		return invalid("%v", err)
	}
	if rp := c.relyingParty(); rp.Enabled() {
		if err := rp.Validate(); err != nil {
			return invalid("--webauthn-rp-id, --webauthn-origins: %v", err)
		}
	}
	return nil
}

// relyingParty is who passkeys are registered with.
func (c Config) relyingParty() accounts.RelyingParty {
	return accounts.RelyingParty{ID: c.WebAuthnRPID, Origins: c.WebAuthnOrigins}
}

// shared reports whether instances share the database, and so keep their
// signing keys in it.
func (c Config) shared() bool {
	return strings.HasPrefix(c.DB, "postgres://") || strings.HasPrefix(c.DB, "postgresql://")
}
