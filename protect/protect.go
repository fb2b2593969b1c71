package protect

import (
	"context"
	"errors"
	"fmt"

	"google.golang.org/grpc"

	"github.com/authd-dev/authd/interceptors"
	"github.com/authd-dev/authd/jwks"
	"github.com/authd-dev/authd/revocation"
	"github.com/authd-dev/authd/token"
)

// New returns the Authenticator of a service that verifies the tokens of
// the authd behind authdConn. Before returning it fetches authd's keys and
// its revocation list once, so that a service that cannot reach authd
// fails at start rather than at its first call; then it polls the
// revocation list until ctx ends.
//
// The Authenticator makes gRPC health and reflection public, applies every
// method's (auth.v1.requirement) and (auth.v1.rule), and refuses tokens of
// sessions authd has revoked or does not know.
func New(ctx context.Context, authdConn grpc.ClientConnInterface, opts ...Option) (*interceptors.Authenticator, error) {
	c := newConfig(opts)
	if c.poll && c.pollInterval <= 0 {
		return nil, errors.New("protect: the revocation poll interval must be positive (WithoutRevocationPolling turns polling off)")
	}
	keys := jwks.New(jwks.GRPC(authdConn), jwks.WithClock(c.clock))
	if err := keys.Refresh(ctx); err != nil {
		return nil, fmt.Errorf("protect: fetch authd's keys: %w", err)
	}
	verifierOpts := []token.VerifierOption{
		token.WithIssuer(c.issuer), token.WithAudience(c.audience), token.WithClock(c.clock), token.WithLeeway(c.leeway),
	}
	if c.maxLifetime > 0 {
		verifierOpts = append(verifierOpts, token.WithMaxLifetime(c.maxLifetime))
	}
	verifier, err := token.NewVerifier(keys, verifierOpts...)
	if err != nil {
		return nil, fmt.Errorf("protect: %w", err)
	}
	authnOpts := []interceptors.Option{interceptors.WithPublicHealthAndReflection(), interceptors.WithClock(c.clock)}
	if c.poll {
		poller := revocation.NewPoller(authdConn, revocation.WithClock(c.clock),
			revocation.WithPollInterval(c.pollInterval), revocation.WithMaxStaleness(c.maxStaleness))
		if err := poller.Poll(ctx); err != nil {
			return nil, fmt.Errorf("protect: fetch authd's revocations: %w", err)
		}
		if c.feed != nil {
			if err := c.feed(ctx, poller.Nudge); err != nil {
				return nil, fmt.Errorf("protect: revocation feed: %w", err)
			}
		}
		go poller.Run(ctx, func(err error) {
			c.logger.WarnContext(ctx, "revocation poll failed; protected calls fail closed once the last poll is too old", "err", err)
		})
		authnOpts = append(authnOpts, interceptors.WithRevocations(poller))
	}
	if c.renew {
		authnOpts = append(authnOpts, interceptors.WithRenewal(interceptors.RemoteRenewer(authdConn), c.renewThreshold))
	}
	return interceptors.New(verifier, append(authnOpts, c.authn...)...), nil
}
