package server

import (
	"context"
	"time"
)

// Intervals of the maintenance loops.
const (
	// DefaultKeyReloadInterval bounds how long an instance keeps a key
	// another instance or `authd keys revoke` removed, or misses one added
	// (keys.DefaultPropagationDelay exceeds it).
	DefaultKeyReloadInterval = time.Minute
	// sessionPruneInterval is how often sessions past their cap are
	// deleted.
	sessionPruneInterval = time.Hour
	// defaultCertCheckInterval is how often the certificate files are
	// checked for a change (a renewal by cert-manager or certbot needs no
	// signal).
	defaultCertCheckInterval = 2 * time.Second
)

// maintain runs the maintenance loops on the server's clock until ctx
// ends: keys reloaded (pruned, re-read) every KeyReloadInterval, sessions
// past their cap pruned every sessionPruneInterval, the certificate
// reloaded when its files change. What fails is logged and the current
// keys or certificate kept.
func (s *Server) maintain(ctx context.Context) {
	certEvery := s.cfg.CertCheckInterval
	if certEvery <= 0 {
		certEvery = defaultCertCheckInterval
	}
	keysEvery := s.cfg.KeyReloadInterval
	if keysEvery <= 0 {
		keysEvery = DefaultKeyReloadInterval
	}
	s.every(ctx, keysEvery, s.reloadKeys)
	s.every(ctx, sessionPruneInterval, s.pruneSessions)
	if s.certs != nil {
		s.every(ctx, certEvery, func(context.Context) {
			if s.certs.changed() {
				s.reloadCerts()
			}
		})
	}
}

// every runs f each interval on the server's clock until ctx ends.
func (s *Server) every(ctx context.Context, interval time.Duration, f func(context.Context)) {
	var tick func()
	tick = func() {
		if ctx.Err() != nil {
			return
		}
		f(ctx)
		s.clock.AfterFunc(interval, tick)
	}
	stop := s.clock.AfterFunc(interval, tick)
	context.AfterFunc(ctx, func() { stop() })
}

// Reload prunes and re-reads the signing keys and reloads the TLS
// certificate and client CA, now (SIGHUP). What fails is logged and the
// current keys or certificate kept.
func (s *Server) Reload(ctx context.Context) {
	s.reloadKeys(ctx)
	if s.certs != nil {
		s.reloadCerts()
	}
}

// reloadKeys prunes and re-reads the signing keys (none in HS256 mode),
// logging when they changed, and when the signing key changed since the
// last reload (a next key's activation needs no reload: this reports it).
func (s *Server) reloadKeys(ctx context.Context) {
	if s.ring == nil {
		return
	}
	s.keysLogged.Lock()
	defer s.keysLogged.Unlock()
	before := s.ring.Generation()
	err := s.ring.Reload(ctx)
	kid, _ := s.ring.SigningKey()
	if err != nil {
		s.logger.Error("key reload failed; keeping the current keys", "err", err)
	} else if s.ring.Generation() != before {
		attrs := []any{"current_kid", kid, "keys", len(s.ring.Keys())}
		if next, ok := s.ring.Next(); ok {
			attrs = append(attrs, "next_kid", next.ID, "next_signs_from", next.Activates.UTC().Format(time.RFC3339))
		}
		s.logger.Info("signing keys reloaded", attrs...)
	} else if kid != s.signingKID {
		s.logger.Info("signing with the next key: its activation came", "current_kid", kid)
	}
	s.signingKID = kid
}

// pruneSessions deletes sessions whose cap passed more than the clock
// leeway ago: none of their tokens verifies any more.
func (s *Server) pruneSessions(ctx context.Context) {
	n, err := s.sessions.Prune(ctx)
	if err != nil {
		s.logger.Warn("pruning sessions failed", "err", err)
		return
	}
	if n > 0 {
		s.logger.Info("pruned sessions past their cap", "sessions", n)
	}
	// Logins that never presented their second factor.
	if n, err := s.store.PruneChallenges(ctx, s.clock.Now()); err != nil {
		s.logger.Warn("pruning second-factor challenges failed", "err", err)
	} else if n > 0 {
		s.logger.Info("pruned expired second-factor challenges", "challenges", n)
	}
	// Passkey ceremonies begun and never finished.
	if n, err := s.store.PruneCeremonies(ctx, s.clock.Now()); err != nil {
		s.logger.Warn("pruning passkey ceremonies failed", "err", err)
	} else if n > 0 {
		s.logger.Info("pruned expired passkey ceremonies", "ceremonies", n)
	}
}

func (s *Server) reloadCerts() {
	if err := s.certs.reload(); err != nil {
		s.logger.Error("certificate reload failed; keeping the current one", "err", err)
		return
	}
	s.logger.Info("TLS certificate reloaded")
}
