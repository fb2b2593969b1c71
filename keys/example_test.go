package keys_test

import (
	"context"
	"fmt"
	"log"
	"log/slog"
	"os"
	"time"

	"github.com/authd-dev/authd/clock"
	"github.com/authd-dev/authd/keys"
)

// A key's life: created current, or next by a rotation, published ahead
// of signing; retired when the next key starts signing, verifying until
// every token it signed has expired, then pruned.
func ExampleOpen() {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "authd-keys")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	clk := clock.NewFake(time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC))

	// Retired keys verify for the longest token lifetime, plus a minute of
	// leeway and an hour for an instance that reloads late.
	keep := keys.Keep(15*time.Minute, 24*time.Hour)
	fmt.Println("keep:", keep)

	// The first Open of an empty directory makes the first key.
	ring, err := keys.Open(ctx, keys.Dir(dir), keys.WithClock(clk), keys.WithKeep(keep),
		keys.WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		log.Fatal(err)
	}
	printStates(ctx, ring)

	// `authd keys rotate`: the new key is stored, and published by each
	// instance at its next reload, but signs only from its activation, a
	// propagation delay later, when every instance and every consumer has
	// had time to learn it.
	clk.Advance(time.Hour)
	rotated, err := ring.Manager().Rotate(ctx)
	if err != nil {
		log.Fatal(err)
	}
	if err := ring.Reload(ctx); err != nil {
		log.Fatal(err)
	}
	_, err = ring.VerificationKey(ctx, rotated.ID)
	kid, _ := ring.SigningKey()
	fmt.Println("published:", err == nil, "signs with it:", kid == rotated.ID)
	printStates(ctx, ring)

	// At its activation it signs, with no reload needed, on every
	// instance at once; the old key verifies until its tokens expire.
	clk.Advance(keys.DefaultPropagationDelay)
	kid, _ = ring.SigningKey()
	fmt.Println("signs with the rotated key:", kid == rotated.ID)
	printStates(ctx, ring)

	// Once every token the old key signed has expired, a reload prunes it.
	clk.Advance(keep)
	if err := ring.Reload(ctx); err != nil {
		log.Fatal(err)
	}
	printStates(ctx, ring)
	// Output:
	// keep: 25h1m0s
	// 1 key(s)
	//   key 0: current
	// published: true signs with it: false
	// 2 key(s)
	//   key 0: next, signs from 2026-01-01T13:20:00Z
	//   key 1: current
	// signs with the rotated key: true
	// 2 key(s)
	//   key 0: current
	//   key 1: verify-only until 2026-01-02T14:21:00Z
	// 1 key(s)
	//   key 0: current
}

// Revoking a possibly compromised current key makes a new key current
// first, so authd always has one to sign with.
func ExampleManager_Revoke() {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "authd-keys")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	clk := clock.NewFake(time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC))
	m := keys.NewManager(keys.Dir(dir), keys.WithClock(clk), keys.WithLogger(slog.New(slog.DiscardHandler)))
	if _, err := m.Init(ctx); err != nil {
		log.Fatal(err)
	}
	states, err := m.List(ctx)
	if err != nil {
		log.Fatal(err)
	}
	compromised := states[0].Key.ID

	clk.Advance(time.Minute)
	replacement, err := m.Revoke(ctx, compromised)
	if err != nil {
		log.Fatal(err)
	}
	states, err = m.List(ctx)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("replacement made:", replacement != nil)
	fmt.Println("keys:", len(states))
	fmt.Println("replacement is current:", states[0].Current && states[0].Key.ID == replacement.ID)
	fmt.Println("revoked key gone:", states[0].Key.ID != compromised)
	// Output:
	// replacement made: true
	// keys: 1
	// replacement is current: true
	// revoked key gone: true
}

// printStates prints how many keys are stored and, newest first, each one's
// state (kids are random, so they are not printed).
func printStates(ctx context.Context, ring *keys.Ring) {
	states, err := ring.Manager().List(ctx)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%d key(s)\n", len(states))
	for i, s := range states {
		switch {
		case s.Current:
			fmt.Printf("  key %d: current\n", i)
		case s.Next:
			fmt.Printf("  key %d: next, signs from %s\n", i, s.Key.Activates.Format(time.RFC3339))
		default:
			fmt.Printf("  key %d: verify-only until %s\n", i, s.Until.Format(time.RFC3339))
		}
	}
}
