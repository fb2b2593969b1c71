package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/authd-dev/authd/keys"
	"github.com/authd-dev/authd/server"
	"github.com/authd-dev/authd/token"
)

// serveSettings are `authd serve`'s flags: the server's Config, and what
// the command reads before it can fill the Config (files, the log format).
type serveSettings struct {
	cfg             server.Config
	kekFile         string
	hs256SecretFile string
	logFormat       string
	logLevel        slog.Level
}

func serveFlags() (*flag.FlagSet, *serveSettings) {
	s := &serveSettings{cfg: server.Defaults()}
	c, def := &s.cfg, server.Defaults()
	fs := newFlagSet("authd serve")
	storeFlags(fs, c, &s.kekFile)
	fs.StringVar(&c.Addr, "addr", def.Addr, "gRPC listen address")
	fs.StringVar(&c.HTTPAddr, "http-addr", "", "HTTP listen address for /.well-known/jwks.json, /healthz, /readyz and /metrics (off when empty); HTTPS with --tls-cert")
	fs.BoolVar(&c.HTTPPlaintext, "http-plaintext", false, "serve the HTTP listeners without TLS even with --tls-cert (behind a TLS-terminating proxy)")
	fs.StringVar(&c.MetricsAddr, "metrics-addr", "", "serve /metrics on this address instead of --http-addr")
	fs.BoolVar(&c.PProf, "pprof", false, "also serve Go's profiles (/debug/pprof/) on --metrics-addr, which it requires")
	fs.StringVar(&c.Issuer, "issuer", def.Issuer, "iss of issued tokens, required when verifying; with --public-url it is that URL (unset, or set alike)")
	fs.StringVar(&c.Audience, "audience", def.Audience, "aud of issued tokens, required when verifying")
	fs.DurationVar(&c.AccessTTL, "access-ttl", def.AccessTTL, "access-token lifetime")
	fs.DurationVar(&c.RefreshTTL, "refresh-ttl", def.RefreshTTL, "refresh-token idle lifetime, restarted by each refresh")
	fs.DurationVar(&c.SessionMax, "session-max", def.SessionMax, "absolute session cap from the password login")
	fs.DurationVar(&c.Leeway, "leeway", 0, "clock-skew tolerance on exp/nbf/iat (at most 60s)")
	fs.DurationVar(&c.RefreshReuseGrace, "refresh-reuse-grace", def.RefreshReuseGrace, "how long after a refresh token's successor was first used the spent token is refused without revoking the session (0 = strict: reuse at once); a spent token whose successor is unused always gets that successor again")
	fs.IntVar(&c.MaxSessionsPerUser, "max-sessions-per-user", def.MaxSessionsPerUser, "live sessions one account may hold: a login past it revokes the oldest")
	fs.BoolVar(&c.RefreshRotation, "refresh-rotation", def.RefreshRotation, "rotate refresh tokens on every refresh (false keeps the login's refresh token)")
	fs.BoolVar(&c.AcceptUntypedTokens, "accept-untyped-tokens", false, "also accept tokens typed JWT or untyped, as authd minted them before it typed them at+jwt and refresh+jwt: for the upgrade, until those have expired (--session-max)")
	fs.BoolVar(&c.MintUntypedTokens, "mint-untyped-tokens", false, "sign tokens typed JWT, as authd did before it typed them, so that instances not yet upgraded accept them while the fleet is rolled (implies --accept-untyped-tokens); drop it once every instance is upgraded")
	fs.StringVar(&s.hs256SecretFile, "hs256-secret-file", "", "sign and verify with HS256 using this secret (>= 32 bytes) instead of Ed25519")
	fs.StringVar(&c.TLSCert, "tls-cert", "", "TLS certificate file (PEM); with --tls-key serves gRPC over TLS")
	fs.StringVar(&c.TLSKey, "tls-key", "", "TLS private key file (PEM)")
	fs.StringVar(&c.ClientCA, "client-ca", "", "CA bundle (PEM) that client certificates must chain to (mTLS)")
	fs.StringVar(&s.logFormat, "log-format", "text", "log format: text or json")
	fs.TextVar(&s.logLevel, "log-level", slog.LevelInfo, "least level logged: debug (adds health checks, reflection and consumers' polls), info, warn or error")
	fs.Func("trusted-proxies", "comma-separated CIDRs (or addresses) of proxies whose x-forwarded-for / forwarded metadata names the client for login throttling", func(v string) error {
		c.TrustedProxies = nil
		for _, item := range strings.Split(v, ",") {
			if item = strings.TrimSpace(item); item == "" {
				continue
			}
			p, err := netip.ParsePrefix(item)
			if err != nil {
				addr, aerr := netip.ParseAddr(item)
				if aerr != nil {
					return fmt.Errorf("%q is neither a CIDR nor an address", item)
				}
				p = netip.PrefixFrom(addr, addr.BitLen())
			}
			c.TrustedProxies = append(c.TrustedProxies, p.Masked())
		}
		return nil
	})
	fs.BoolVar(&c.DPoPRequireNonce, "dpop-nonce", false, "DPoP proofs must carry a nonce authd issued (sent in the dpop-nonce header of a DPOP_NONCE_REQUIRED refusal); instances sharing the key-encryption secret accept each other's")
	fs.StringVar(&c.PublicAuthority, "public-authority", "", "the authority clients dial authd's gRPC port by (host:port, or https://host:port behind a TLS-terminating proxy), when it is not what authd receives: DPoP proofs name it in their htu")
	fs.Func("second-factor-roles", "comma-separated roles (authd:admin) whose grants need a second factor: a fresh-token method a rule opens to one of them also needs one (with authd:admin, every AdminService change); enrolling one needs only a fresh token", func(v string) error {
		c.SecondFactorRoles = nil
		for _, r := range strings.Split(v, ",") {
			if r = strings.TrimSpace(r); r != "" {
				c.SecondFactorRoles = append(c.SecondFactorRoles, r)
			}
		}
		return token.ValidateNames(c.SecondFactorRoles)
	})
	fs.Func("cors-origins", "comma-separated origins (https://app.example.com) whose pages may call AuthService on --http-addr over Connect or gRPC-Web with credentials; no wildcard; other origins are refused", func(v string) error {
		origins, err := server.ParseOrigins(v)
		c.CORSOrigins = origins
		return err
	})
	fs.StringVar(&c.WebAuthnRPID, "webauthn-rp-id", "", "relying party ID of passkeys: the host name of the pages, or a registrable domain above it (example.com, localhost; never an IP address); with --webauthn-origins turns the passkey methods on")
	fs.Func("webauthn-origins", "comma-separated origins (https://app.example.com) of the pages that may register and use passkeys, each on --webauthn-rp-id or under it", func(v string) error {
		origins, err := server.ParseOrigins(v)
		c.WebAuthnOrigins = origins
		return err
	})
	hashFlags(fs, c)
	fs.IntVar(&c.MaxConnections, "max-connections", def.MaxConnections, "connections each listener (gRPC, HTTP, metrics) holds at once; past it a new one is closed as soon as accepted")
	fs.IntVar(&c.MaxConnectionsPerAddress, "max-connections-per-address", def.MaxConnectionsPerAddress, "connections each listener holds at once from one remote address (IPv6: its /64)")
	fs.DurationVar(&c.HandshakeTimeout, "handshake-timeout", def.HandshakeTimeout, "a new connection that has not completed its TLS handshake and HTTP/2 preface (gRPC) or sent its request headers (HTTP) within this is closed")
	fs.BoolVar(&c.AllowInsecurePermissions, "allow-insecure-permissions", false, "start even when the data dir, database, signing keys, TLS key or secret files are open to group or others or owned by another user (refused otherwise)")
	fs.StringVar(&c.PublicURL, "public-url", "", "external URL of the HTTP listener (https://auth.example.com, with a path prefix if a proxy adds one): the issuer, and where /.well-known/openid-configuration says jwks_uri is (empty: no discovery document)")
	return fs, s
}

func serve(ctx context.Context, args []string, e env, stderr io.Writer) error {
	fs, s := serveFlags()
	positional, err := parse(fs, args, e)
	if err != nil {
		return err
	}
	if len(positional) > 0 {
		return fmt.Errorf("%w: serve takes no arguments, got %q", errUsage, positional)
	}
	if s.cfg.PublicURL != "" && !isSet(fs, "issuer") {
		s.cfg.Issuer = "" // the public URL (server.Config.Issuer)
	}
	if err := s.cfg.Validate(); err != nil {
		return usageIfConfig(err)
	}
	logger, err := newLogger(s.logFormat, s.logLevel, stderr)
	if err != nil {
		return err
	}
	s.cfg.Logger = logger
	for _, file := range []string{s.hs256SecretFile, s.kekFile} {
		if file != "" && !s.cfg.AllowInsecurePermissions {
			if err := server.CheckPrivate(file); err != nil && !errors.Is(err, os.ErrNotExist) {
				return err
			}
		}
	}
	if s.hs256SecretFile != "" {
		if s.cfg.HS256Secret, err = keys.ReadSecretFile(s.hs256SecretFile); err != nil {
			return err
		}
	}
	if s.cfg.KeyEncryptionKey, err = keyEncryptionKey(s.kekFile, e); err != nil {
		return err
	}
	// A test knob, deliberately neither a flag nor documented: the process
	// tests of certificate reloads set it short (to see a renewal at once)
	// or long (so that only a SIGHUP reloads).
	if v, ok := e("AUTHD_TEST_CERT_POLL"); ok {
		if d, err := time.ParseDuration(v); err == nil && d > 0 {
			s.cfg.CertCheckInterval = d
		}
	}
	// Another, for the process tests of key rotation across a fleet: how
	// often the keys are re-read (a minute otherwise), so that a rotation
	// with a short propagation delay is safe.
	if v, ok := e("AUTHD_TEST_KEY_RELOAD"); ok {
		if d, err := time.ParseDuration(v); err == nil && d > 0 {
			s.cfg.KeyReloadInterval = d
		}
	}
	if s.cfg.Redis != "" {
		// go-redis has one logger for the process: authd's.
		redis.SetLogger(redisLogger{logger})
	}
	srv, err := server.New(ctx, s.cfg)
	if err != nil {
		return noSecretHint(usageIfConfig(err))
	}
	defer srv.Close()
	// The handler is in place before authd says it serves: a SIGHUP from
	// then on reloads, never kills.
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	go func() {
		for {
			select {
			case <-ctx.Done():
				return
			case <-hup:
				srv.Reload(ctx)
			}
		}
	}()
	return srv.Run(ctx)
}

func newLogger(format string, level slog.Level, w io.Writer) (*slog.Logger, error) {
	opts := &slog.HandlerOptions{Level: level}
	switch format {
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return nil, fmt.Errorf("%w: --log-format %q: want text or json", errUsage, format)
}

// isSet reports whether flag name was given: on the command line, in the
// environment or in the config file (parse sets each through fs.Set).
func isSet(fs *flag.FlagSet, name string) bool {
	set := false
	fs.Visit(func(f *flag.Flag) { set = set || f.Name == name })
	return set
}
