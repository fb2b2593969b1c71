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

// A key's life: created current, retired by a rotation, verifying until
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

	// `authd keys rotate`, then SIGHUP: the new key signs, the old verifies.
	clk.Advance(time.Hour)
	rotated, err := ring.Manager().Rotate(ctx)
	if err != nil {
		log.Fatal(err)
	}
	if err := ring.Reload(ctx); err != nil {
		log.Fatal(err)
	}
	kid, _ := ring.SigningKey()
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
	// signs with the rotated key: true
	// 2 key(s)
	//   key 0: current
	//   key 1: verify-only until 2026-01-02T14:01:00Z
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
		if s.Current {
			fmt.Printf("  key %d: current\n", i)
		} else {
			fmt.Printf("  key %d: verify-only until %s\n", i, s.Until.Format(time.RFC3339))
		}
	}
}
