package jwks

import (
	"context"
	"sync"
	"time"

	"github.com/authd-dev/authd/clock"
)

// Reloader runs a key reload at most once per cooldown, and one at a time,
// so that tokens naming unknown kids (forged ones, or ones signed after a
// rotation elsewhere) cost at most one fetch per cooldown however many
// arrive. It is safe for concurrent use.
type Reloader struct {
	clock    clock.Clock
	cooldown time.Duration

	mu   sync.Mutex // held during a reload: one at a time
	last time.Time  // when the last reload started
}

// NewReloader returns a Reloader with the given cooldown.
func NewReloader(clk clock.Clock, cooldown time.Duration) *Reloader {
	return &Reloader{clock: clk, cooldown: cooldown}
}

// Reload calls load unless a reload started within the cooldown. A caller
// that arrives during a reload waits for it and then, the cooldown not
// being over, does not start another. It reports whether load ran.
func (r *Reloader) Reload(ctx context.Context, load func(context.Context) error) (bool, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	now := r.clock.Now()
	if !r.last.IsZero() && now.Sub(r.last) < r.cooldown {
		return false, nil
	}
	r.last = now
	return true, load(ctx)
}

// Force calls load whatever the cooldown says, still one at a time.
func (r *Reloader) Force(ctx context.Context, load func(context.Context) error) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.last = r.clock.Now()
	return load(ctx)
}
