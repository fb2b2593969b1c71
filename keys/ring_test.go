package keys_test

import (
	"context"
	"errors"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/authd-dev/authd/clock"
	"github.com/authd-dev/authd/keys"
	"github.com/authd-dev/authd/token"
)

func TestRing_OpenCreatesTheFirstKeyAndPrunes(t *testing.T) {
	eachBackend(t, func(t *testing.T, b keys.Backend) {
		const keep = time.Hour
		clk := clock.NewFake(t0)
		ring, err := keys.Open(t.Context(), b, keys.WithClock(clk), keys.WithKeep(keep), atOnce)
		if err != nil {
			t.Fatal(err)
		}
		first, _ := ring.SigningKey()
		if got := keyIDs(ring.Keys()); !slices.Equal(got, []string{first}) {
			t.Fatalf("Open of an empty backend holds %v, want one new key", got)
		}
		second := rotate(t, ring.Manager(), clk, time.Minute)
		clk.Advance(keep) // the first key's tokens have all expired
		reopened, err := keys.Open(t.Context(), b, keys.WithClock(clk), keys.WithKeep(keep))
		if err != nil {
			t.Fatal(err)
		}
		if got := keyIDs(reopened.Keys()); !slices.Equal(got, []string{second.ID}) {
			t.Fatalf("Open after the first key's keep: %v, want %s alone", got, second.ID)
		}
		if got := kids(list(t, ring.Manager())); !slices.Equal(got, []string{second.ID}) {
			t.Fatalf("stored keys after Open: %v, want the expired one pruned", got)
		}
	})
}

func TestRing_ReloadPicksUpRotationAndPrunes(t *testing.T) {
	eachBackend(t, func(t *testing.T, b keys.Backend) {
		const keep = time.Hour
		clk := clock.NewFake(t0)
		ring, err := keys.Open(t.Context(), b, keys.WithClock(clk), keys.WithKeep(keep))
		if err != nil {
			t.Fatal(err)
		}
		old, _ := ring.SigningKey()
		rotated := rotate(t, keys.NewManager(b, keys.WithClock(clk), atOnce), clk, time.Minute)
		if kid, _ := ring.SigningKey(); kid != old {
			t.Fatalf("the Ring signs with %s before reloading, want %s", kid, old)
		}
		if err := ring.Reload(t.Context()); err != nil {
			t.Fatal(err)
		}
		if kid, _ := ring.SigningKey(); kid != rotated.ID {
			t.Fatalf("after Reload the Ring signs with %s, want %s", kid, rotated.ID)
		}
		if _, err := ring.VerificationKey(t.Context(), old); err != nil {
			t.Fatalf("the retired key after Reload: %v", err)
		}
		clk.Advance(keep)
		if err := ring.Reload(t.Context()); err != nil {
			t.Fatal(err)
		}
		if _, err := ring.VerificationKey(t.Context(), old); !errors.Is(err, token.ErrUnknownKey) {
			t.Fatalf("the retired key past its keep: %v, want ErrUnknownKey", err)
		}
	})
}

func TestRing_FailedReloadKeepsTheKeys(t *testing.T) {
	eachBackend(t, func(t *testing.T, b keys.Backend) {
		clk := clock.NewFake(t0)
		flaky := &flakyBackend{Backend: b}
		ring, err := keys.Open(t.Context(), flaky, keys.WithClock(clk))
		if err != nil {
			t.Fatal(err)
		}
		kid, _ := ring.SigningKey()
		rotated := rotate(t, keys.NewManager(b, keys.WithClock(clk), atOnce), clk, time.Minute)
		flaky.down.Store(true)
		if err := ring.Reload(t.Context()); !errors.Is(err, errBackendDown) {
			t.Fatalf("Reload with the backend down: %v, want its error", err)
		}
		if got, _ := ring.SigningKey(); got != kid {
			t.Fatalf("after a failed Reload the Ring signs with %s, want %s still", got, kid)
		}
		if _, err := ring.VerificationKey(t.Context(), kid); err != nil {
			t.Fatalf("a held key after a failed Reload: %v", err)
		}
		flaky.down.Store(false)
		if err := ring.Reload(t.Context()); err != nil {
			t.Fatal(err)
		}
		if got, _ := ring.SigningKey(); got != rotated.ID {
			t.Fatalf("after the backend came back the Ring signs with %s, want %s", got, rotated.ID)
		}
	})
}

// A kid the Ring does not hold while the backend is down cannot be judged:
// it may be another instance's new key.
func TestRing_UnknownKidWithTheBackendDownIsKeysUnavailable(t *testing.T) {
	eachBackend(t, func(t *testing.T, b keys.Backend) {
		flaky := &flakyBackend{Backend: b}
		ring, err := keys.Open(t.Context(), flaky, keys.WithClock(clock.NewFake(t0)))
		if err != nil {
			t.Fatal(err)
		}
		kid, _ := ring.SigningKey()
		other, err := keys.NewKey(t0)
		if err != nil {
			t.Fatal(err)
		}
		flaky.down.Store(true)
		if _, err := ring.VerificationKey(t.Context(), other.ID); !errors.Is(err, token.ErrKeysUnavailable) || !errors.Is(err, errBackendDown) {
			t.Fatalf("unknown kid with the backend down: %v, want ErrKeysUnavailable wrapping the backend's error", err)
		}
		if _, err := ring.VerificationKey(t.Context(), kid); err != nil {
			t.Fatalf("a held kid with the backend down: %v", err)
		}
	})
}

var errBackendDown = errors.New("backend down")

// flakyBackend fails every call while down is set.
type flakyBackend struct {
	keys.Backend
	down atomic.Bool
}

func (b *flakyBackend) Keys(ctx context.Context) ([]keys.Key, error) {
	if b.down.Load() {
		return nil, errBackendDown
	}
	return b.Backend.Keys(ctx)
}

func (b *flakyBackend) PublicKeys(ctx context.Context) ([]keys.Key, error) {
	if b.down.Load() {
		return nil, errBackendDown
	}
	return b.Backend.PublicKeys(ctx)
}

func (b *flakyBackend) Add(ctx context.Context, key keys.Key) error {
	if b.down.Load() {
		return errBackendDown
	}
	return b.Backend.Add(ctx, key)
}

func (b *flakyBackend) Delete(ctx context.Context, kid string) error {
	if b.down.Load() {
		return errBackendDown
	}
	return b.Backend.Delete(ctx, kid)
}
