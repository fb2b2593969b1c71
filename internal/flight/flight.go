// Package flight runs one call per key for every caller that wants it at
// the same time, each caller waiting only as long as its own context
// allows: authd's one single-flight, over golang.org/x/sync/singleflight.
package flight

import (
	"context"
	"sync"
	"time"

	"golang.org/x/sync/singleflight"

	"github.com/authd-dev/authd/clock"
)

// Group runs fn once per key at a time. The zero value is ready.
type Group[T any] struct {
	g singleflight.Group
}

// Do runs fn for key unless a run for key is in progress, and returns its
// result to every caller that asked meanwhile. fn runs detached from the
// callers' cancellation (one caller giving up must not fail the others)
// and is bounded by timeout (none when 0). Each caller, the first
// included, waits for the result or for its own ctx to end, whichever
// comes first; fn goes on for the others.
func (g *Group[T]) Do(ctx context.Context, key string, timeout time.Duration, fn func(context.Context) (T, error)) (T, error) {
	detached := context.WithoutCancel(ctx)
	ch := g.g.DoChan(key, func() (any, error) {
		runCtx, cancel := detached, context.CancelFunc(func() {})
		if timeout > 0 {
			runCtx, cancel = context.WithTimeout(detached, timeout)
		}
		defer cancel()
		return fn(runCtx)
	})
	select {
	case r := <-ch:
		v, _ := r.Val.(T)
		return v, r.Err
	case <-ctx.Done():
		var zero T
		return zero, context.Cause(ctx)
	}
}

// Limited runs a function at most once per interval, one run at a time: a
// caller arriving during a run joins it (waiting for it, or for its own
// ctx) instead of starting another. Reloads of keys on an unknown kid use
// it, so forged kids cost at most one reload per interval however many
// arrive, and a token signed with a new key waits for the reload that
// brings it. It is safe for concurrent use.
type Limited struct {
	clock    clock.Clock
	interval time.Duration
	timeout  time.Duration

	mu      sync.Mutex
	last    time.Time // when the last run started
	running *run      // the run in progress, nil when none
}

type run struct {
	done chan struct{}
	err  error
}

// NewLimited returns a Limited running at most once per interval on clk,
// each run bounded by timeout (none when 0) and detached from the callers'
// cancellation.
func NewLimited(clk clock.Clock, interval, timeout time.Duration) *Limited {
	return &Limited{clock: clk, interval: interval, timeout: timeout}
}

// Do joins the run in progress, or starts one unless a run started within
// the interval. It reports whether a run (its own or the one joined)
// happened.
func (l *Limited) Do(ctx context.Context, fn func(context.Context) error) (bool, error) {
	l.mu.Lock()
	r := l.running
	if r == nil {
		if now := l.clock.Now(); !l.last.IsZero() && now.Sub(l.last) < l.interval {
			l.mu.Unlock()
			return false, nil
		}
		r = l.startLocked(ctx, fn)
	}
	l.mu.Unlock()
	return true, wait(ctx, r)
}

// Force runs fn whatever the interval says, after the run in progress if
// there is one (which may have read what fn is asked to read again).
func (l *Limited) Force(ctx context.Context, fn func(context.Context) error) error {
	for {
		l.mu.Lock()
		r := l.running
		if r == nil {
			r = l.startLocked(ctx, fn)
			l.mu.Unlock()
			return wait(ctx, r)
		}
		l.mu.Unlock()
		if err := wait(ctx, r); ctx.Err() != nil {
			return err
		}
	}
}

// startLocked starts a run of fn; called with l.mu held.
func (l *Limited) startLocked(ctx context.Context, fn func(context.Context) error) *run {
	l.last = l.clock.Now()
	r := &run{done: make(chan struct{})}
	l.running = r
	go func() {
		runCtx, cancel := context.WithoutCancel(ctx), context.CancelFunc(func() {})
		if l.timeout > 0 {
			runCtx, cancel = context.WithTimeout(runCtx, l.timeout)
		}
		defer cancel()
		r.err = fn(runCtx)
		l.mu.Lock()
		l.running = nil
		l.mu.Unlock()
		close(r.done)
	}()
	return r
}

func wait(ctx context.Context, r *run) error {
	select {
	case <-r.done:
		return r.err
	case <-ctx.Done():
		return context.Cause(ctx)
	}
}
