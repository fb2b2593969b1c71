package guard

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/authd-dev/authd/token"
)

// The cancellation causes of a watched call.
var (
	errStreamExpired = fmt.Errorf("stream closed: %w", token.ErrExpired)
	errStreamRevoked = fmt.Errorf("stream closed: %w", ErrRevoked)
)

// Watch polices a long-lived call (a stream) for as long as it lasts: it
// returns ctx cancelled, with the refusal as its cause, when d's token
// expires or, with Config.Revocations, its session is found revoked (asked
// every Config.StreamRevocationCheck) or can no longer be checked (fail
// closed). stop releases it. A call without claims is returned as is.
func (g *Guard) Watch(ctx context.Context, d Decision) (_ context.Context, stop func()) {
	if d.Claims == nil {
		return ctx, func() {}
	}
	ctx, cancel := context.WithCancelCause(ctx)
	stopExpiry := g.clock.AfterFunc(d.Claims.Expiry().Sub(g.clock.Now()), func() { cancel(errStreamExpired) })
	var w *revocationWatch
	if g.revocations != nil && d.Claims.SessionID != "" {
		w = &revocationWatch{g: g, ctx: ctx, claims: d.Claims, cancel: cancel}
		w.schedule()
	}
	return ctx, func() {
		stopExpiry()
		if w != nil {
			w.stop()
		}
		cancel(nil)
	}
}

// Ended returns the refusal a watched call gets from now on, or nil while
// it may go on: its token's exp has passed (read on the clock, so that not
// one message passes at or after exp, whenever the timer runs), or Watch
// ended it. Adapters call it before each message and after the handler.
func (g *Guard) Ended(ctx context.Context, d Decision) error {
	if d.Claims != nil && !g.clock.Now().Before(d.Claims.Expiry()) {
		return token.ErrExpired
	}
	cause := context.Cause(ctx)
	if errors.Is(cause, errStreamExpired) || errors.Is(cause, errStreamRevoked) || errors.Is(cause, ErrUnavailable) {
		return cause
	}
	return nil
}

// revocationWatch asks about an open call's session every recheck
// interval, and cancels the call when it is revoked.
type revocationWatch struct {
	g      *Guard
	ctx    context.Context
	claims *token.Claims
	cancel context.CancelCauseFunc

	mu      sync.Mutex
	stopped bool
	timer   func() bool
}

func (w *revocationWatch) schedule() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.stopped {
		w.timer = w.g.clock.AfterFunc(w.g.recheck, w.check)
	}
}

func (w *revocationWatch) check() {
	if w.ctx.Err() != nil {
		return
	}
	revoked, err := w.g.revocations.Revoked(w.ctx, w.claims)
	switch {
	case err != nil:
		w.cancel(fmt.Errorf("%w: %w", ErrUnavailable, err))
	case revoked:
		w.cancel(errStreamRevoked)
	default:
		w.schedule()
	}
}

func (w *revocationWatch) stop() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.stopped = true
	if w.timer != nil {
		w.timer()
	}
}
