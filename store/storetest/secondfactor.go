package storetest

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/authd-dev/authd/store"
)

// The second-factor cases, run by Run.
var secondFactorTests = []struct {
	name string
	fn   func(t *testing.T, s store.Store)
}{
	{"SecondFactors/TOTPPendingUntilConfirmed", testTOTPPendingUntilConfirmed},
	{"SecondFactors/TOTPStepAcceptedOnce", testTOTPStepAcceptedOnce},
	{"SecondFactors/ConcurrentTOTPStepHasOneWinner", testConcurrentTOTPStep},
	{"SecondFactors/RecoveryCodeSpentOnce", testRecoveryCodeSpentOnce},
	{"SecondFactors/ConcurrentRecoveryCodeHasOneWinner", testConcurrentRecoveryCode},
	{"SecondFactors/ConfirmReplacesRecoveryCodes", testConfirmReplacesRecoveryCodes},
	{"SecondFactors/DeleteCountsTheFactors", testDeleteSecondFactors},
	{"SecondFactors/PasskeysAddListDelete", testPasskeys},
	{"SecondFactors/PasskeyCounterMustMove", testPasskeyCounter},
	{"SecondFactors/ConcurrentPasskeyUseHasOneWinner", testConcurrentPasskeyUse},
	{"SecondFactors/ChallengeLiveUntilItsExpiry", testChallengeExpiry},
	{"SecondFactors/ChallengeConsumedOnce", testChallengeConsumedOnce},
	{"SecondFactors/ConcurrentConsumersHaveOneWinner", testConcurrentConsume},
	{"SecondFactors/PruneExpiredChallenges", testPruneChallenges},
	{"Users/SecondFactorReadWithTheUser", testUserSecondFactor},
	{"Sessions/ACRAndAMRRoundTrip", testSessionACRAMR},
	{"Sessions/StepUpOnlyALiveSession", testStepUpSession},
}

// digest stands for what the callers store: the SHA-256 of a code or token.
func digest(s string) []byte {
	h := sha256.Sum256([]byte(s))
	return h[:]
}

// confirmedTOTP gives u a confirmed authenticator, last accepted at step,
// with the recovery codes codes.
func confirmedTOTP(t *testing.T, s store.Store, u store.User, step int64, codes ...string) {
	t.Helper()
	ctx := context.Background()
	if err := s.SetTOTP(ctx, u.ID, []byte("secret-"+u.Name), t0); err != nil {
		t.Fatal(err)
	}
	hashes := make([][]byte, len(codes))
	for i, c := range codes {
		hashes[i] = digest(c)
	}
	if err := s.ConfirmTOTP(ctx, u.ID, step, hashes, t0); err != nil {
		t.Fatal(err)
	}
}

// oneWinner runs f from n goroutines at once and fails t unless exactly
// one returns nil and every other loses with lost.
func oneWinner(t *testing.T, n int, lost error, f func(i int) error) {
	t.Helper()
	var wg sync.WaitGroup
	errs := make([]error, n)
	start := make(chan struct{})
	for i := range n {
		wg.Go(func() {
			<-start
			errs[i] = f(i)
		})
	}
	close(start)
	wg.Wait()
	wins := 0
	for _, err := range errs {
		switch {
		case err == nil:
			wins++
		case !errors.Is(err, lost):
			t.Errorf("err = %v, want nil or %v", err, lost)
		}
	}
	if wins != 1 {
		t.Fatalf("%d of %d concurrent calls succeeded, want exactly 1", wins, n)
	}
}

// testTOTPPendingUntilConfirmed: an authenticator is pending, and
// replaceable, until confirmed; a confirmed one is kept until reset.
func testTOTPPendingUntilConfirmed(t *testing.T, s store.Store) {
	ctx := context.Background()
	u := mustUser(t, s, "alice")
	if _, err := s.TOTP(ctx, u.ID); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("TOTP of a user without one: %v, want ErrNotFound", err)
	}
	if err := s.SetTOTP(ctx, u.ID+1000, []byte("s"), t0); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("SetTOTP of an unknown user: %v, want ErrNotFound", err)
	}
	if err := s.ConfirmTOTP(ctx, u.ID, 10, nil, t0); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("ConfirmTOTP with nothing pending: %v, want ErrConflict", err)
	}
	if err := s.SetTOTP(ctx, u.ID, []byte("first"), t0); err != nil {
		t.Fatal(err)
	}
	later := t0.Add(time.Minute)
	if err := s.SetTOTP(ctx, u.ID, []byte{0, 255, 'x'}, later); err != nil {
		t.Fatalf("replacing a pending authenticator: %v", err)
	}
	want := store.TOTP{UserID: u.ID, Secret: []byte{0, 255, 'x'}, CreatedAt: later}
	if got, err := s.TOTP(ctx, u.ID); err != nil || !reflect.DeepEqual(got, want) {
		t.Fatalf("pending TOTP = %+v, %v; want %+v", got, err, want)
	}
	if err := s.UseTOTPStep(ctx, u.ID, 100, later); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("UseTOTPStep of a pending authenticator: %v, want ErrNotFound", err)
	}
	if err := s.ConfirmTOTP(ctx, u.ID, 100, [][]byte{digest("c1"), digest("c2")}, later); err != nil {
		t.Fatal(err)
	}
	want.Confirmed, want.LastStep = true, 100
	if got, err := s.TOTP(ctx, u.ID); err != nil || !reflect.DeepEqual(got, want) {
		t.Fatalf("confirmed TOTP = %+v, %v; want %+v", got, err, want)
	}
	if n, err := s.RecoveryCodesLeft(ctx, u.ID); err != nil || n != 2 {
		t.Fatalf("RecoveryCodesLeft = %d, %v; want 2", n, err)
	}
	if err := s.ConfirmTOTP(ctx, u.ID, 101, nil, later); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("confirming twice: %v, want ErrConflict", err)
	}
	if err := s.SetTOTP(ctx, u.ID, []byte("other"), later); !errors.Is(err, store.ErrExists) {
		t.Fatalf("SetTOTP over a confirmed one: %v, want ErrExists", err)
	}
	if got, err := s.TOTP(ctx, u.ID); err != nil || !reflect.DeepEqual(got, want) {
		t.Fatalf("after refused changes TOTP = %+v, %v; want %+v", got, err, want)
	}
	if n, _ := s.RecoveryCodesLeft(ctx, u.ID); n != 2 {
		t.Fatalf("a refused confirmation changed the recovery codes: %d left", n)
	}
}

// testTOTPStepAcceptedOnce: only a step after the last accepted one passes.
func testTOTPStepAcceptedOnce(t *testing.T, s store.Store) {
	ctx := context.Background()
	u := mustUser(t, s, "alice")
	if err := s.UseTOTPStep(ctx, u.ID, 1, t0); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("UseTOTPStep without an authenticator: %v, want ErrNotFound", err)
	}
	confirmedTOTP(t, s, u, 100)
	for _, c := range []struct {
		step int64
		want error
	}{
		{100, store.ErrConflict}, // the confirming code
		{101, nil},
		{101, store.ErrConflict}, // replayed
		{99, store.ErrConflict},  // older
		{105, nil},
		{103, store.ErrConflict},
	} {
		if err := s.UseTOTPStep(ctx, u.ID, c.step, t0); !errors.Is(err, c.want) || (c.want == nil && err != nil) {
			t.Fatalf("UseTOTPStep(%d) = %v, want %v", c.step, err, c.want)
		}
	}
	if got, err := s.TOTP(ctx, u.ID); err != nil || got.LastStep != 105 {
		t.Fatalf("LastStep = %d, %v; want 105", got.LastStep, err)
	}
}

func testConcurrentTOTPStep(t *testing.T, s store.Store) {
	u := mustUser(t, s, "alice")
	confirmedTOTP(t, s, u, 100)
	oneWinner(t, 20, store.ErrConflict, func(int) error {
		return s.UseTOTPStep(context.Background(), u.ID, 101, t0)
	})
}

// testRecoveryCodeSpentOnce: a code is the user's, and spent once.
func testRecoveryCodeSpentOnce(t *testing.T, s store.Store) {
	ctx := context.Background()
	alice, bob := mustUser(t, s, "alice"), mustUser(t, s, "bob")
	confirmedTOTP(t, s, alice, 1, "a1", "a2", "a3")
	confirmedTOTP(t, s, bob, 1, "b1")
	if err := s.UseRecoveryCode(ctx, alice.ID, digest("a2"), t0); err != nil {
		t.Fatal(err)
	}
	for name, c := range map[string]struct {
		user int64
		code string
	}{
		"spent":          {alice.ID, "a2"},
		"unknown":        {alice.ID, "zz"},
		"another user's": {alice.ID, "b1"},
	} {
		if err := s.UseRecoveryCode(ctx, c.user, digest(c.code), t0); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("UseRecoveryCode of a %s code: %v, want ErrNotFound", name, err)
		}
	}
	if n, err := s.RecoveryCodesLeft(ctx, alice.ID); err != nil || n != 2 {
		t.Fatalf("alice's codes left = %d, %v; want 2", n, err)
	}
	if n, err := s.RecoveryCodesLeft(ctx, bob.ID); err != nil || n != 1 {
		t.Fatalf("bob's codes left = %d, %v; want 1", n, err)
	}
}

func testConcurrentRecoveryCode(t *testing.T, s store.Store) {
	u := mustUser(t, s, "alice")
	confirmedTOTP(t, s, u, 1, "only", "other")
	oneWinner(t, 20, store.ErrNotFound, func(int) error {
		return s.UseRecoveryCode(context.Background(), u.ID, digest("only"), t0)
	})
	if n, err := s.RecoveryCodesLeft(context.Background(), u.ID); err != nil || n != 1 {
		t.Fatalf("codes left = %d, %v; want 1", n, err)
	}
}

// testConfirmReplacesRecoveryCodes: a new authenticator, after a reset,
// comes with new codes; the old ones, spent or not, no longer pass.
func testConfirmReplacesRecoveryCodes(t *testing.T, s store.Store) {
	ctx := context.Background()
	u := mustUser(t, s, "alice")
	confirmedTOTP(t, s, u, 1, "old1", "old2")
	if err := s.UseRecoveryCode(ctx, u.ID, digest("old1"), t0); err != nil {
		t.Fatal(err)
	}
	if _, err := s.DeleteSecondFactors(ctx, u.ID); err != nil {
		t.Fatal(err)
	}
	// Two codes hashing alike are one.
	confirmedTOTP(t, s, u, 1, "new1", "new2", "new3", "new3")
	if n, err := s.RecoveryCodesLeft(ctx, u.ID); err != nil || n != 3 {
		t.Fatalf("codes left = %d, %v; want 3", n, err)
	}
	for _, old := range []string{"old1", "old2"} {
		if err := s.UseRecoveryCode(ctx, u.ID, digest(old), t0); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("old code %s: %v, want ErrNotFound", old, err)
		}
	}
	if err := s.UseRecoveryCode(ctx, u.ID, digest("new2"), t0); err != nil {
		t.Fatal(err)
	}
}

// testDeleteSecondFactors: a reset removes the authenticator, its codes
// and the passkeys, counting the authenticator and each passkey, and
// leaves other users' alone.
func testDeleteSecondFactors(t *testing.T, s store.Store) {
	ctx := context.Background()
	alice, bob := mustUser(t, s, "alice"), mustUser(t, s, "bob")
	confirmedTOTP(t, s, alice, 1, "a1", "a2")
	confirmedTOTP(t, s, bob, 1, "b1")
	for _, p := range []store.Passkey{newPasskey(alice, "ak1"), newPasskey(alice, "ak2"), newPasskey(bob, "bk1")} {
		if err := s.AddPasskey(ctx, p); err != nil {
			t.Fatal(err)
		}
	}
	if n, err := s.DeleteSecondFactors(ctx, alice.ID); err != nil || n != 3 {
		t.Fatalf("DeleteSecondFactors = %d, %v; want 3 (the authenticator and two passkeys)", n, err)
	}
	if _, err := s.TOTP(ctx, alice.ID); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("TOTP after the reset: %v, want ErrNotFound", err)
	}
	if keys, err := s.Passkeys(ctx, alice.ID); err != nil || len(keys) != 0 {
		t.Errorf("passkeys after the reset: %v, %v", keys, err)
	}
	if n, err := s.RecoveryCodesLeft(ctx, alice.ID); err != nil || n != 0 {
		t.Errorf("codes after the reset: %d, %v", n, err)
	}
	if n, err := s.DeleteSecondFactors(ctx, alice.ID); err != nil || n != 0 {
		t.Errorf("a second reset = %d, %v; want 0", n, err)
	}
	// A pending authenticator counts too.
	if err := s.SetTOTP(ctx, alice.ID, []byte("s"), t0); err != nil {
		t.Fatal(err)
	}
	if n, err := s.DeleteSecondFactors(ctx, alice.ID); err != nil || n != 1 {
		t.Errorf("reset of a pending authenticator = %d, %v; want 1", n, err)
	}
	if _, err := s.TOTP(ctx, bob.ID); err != nil {
		t.Errorf("bob's TOTP: %v", err)
	}
	if keys, _ := s.Passkeys(ctx, bob.ID); len(keys) != 1 {
		t.Errorf("bob's passkeys: %v", keys)
	}
	if n, _ := s.RecoveryCodesLeft(ctx, bob.ID); n != 1 {
		t.Errorf("bob's codes: %d", n)
	}
}

func newPasskey(u store.User, id string) store.Passkey {
	return store.Passkey{
		CredentialID: []byte("cred-" + id), UserID: u.ID, Name: "key " + id,
		Credential: []byte(`{"id":"` + id + `"}`), SignCount: 7, CreatedAt: t0,
	}
}

// testPasskeys: passkeys are a user's, unique by credential id, listed
// oldest first, found by credential id, removed by their user only.
func testPasskeys(t *testing.T, s store.Store) {
	ctx := context.Background()
	alice, bob := mustUser(t, s, "alice"), mustUser(t, s, "bob")
	older, newer := newPasskey(alice, "2"), newPasskey(alice, "1")
	newer.CreatedAt, newer.SignCount = t0.Add(time.Minute), 0
	for _, p := range []store.Passkey{newer, older, newPasskey(bob, "3")} {
		if err := s.AddPasskey(ctx, p); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.AddPasskey(ctx, newPasskey(bob, "2")); !errors.Is(err, store.ErrExists) {
		t.Fatalf("a taken credential id: %v, want ErrExists", err)
	}
	if err := s.AddPasskey(ctx, store.Passkey{CredentialID: []byte("x"), UserID: bob.ID + 1000, Credential: []byte("{}"), CreatedAt: t0}); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("a passkey of an unknown user: %v, want ErrNotFound", err)
	}
	got, err := s.Passkeys(ctx, alice.ID)
	if err != nil || !reflect.DeepEqual(got, []store.Passkey{older, newer}) {
		t.Fatalf("Passkeys =\n %+v, %v\nwant\n %+v", got, err, []store.Passkey{older, newer})
	}
	if p, err := s.PasskeyByCredentialID(ctx, older.CredentialID); err != nil || !reflect.DeepEqual(p, older) {
		t.Fatalf("PasskeyByCredentialID = %+v, %v; want %+v", p, err, older)
	}
	if _, err := s.PasskeyByCredentialID(ctx, []byte("nope")); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("an unknown credential: %v, want ErrNotFound", err)
	}
	if err := s.DeletePasskey(ctx, bob.ID, older.CredentialID); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("deleting another user's passkey: %v, want ErrNotFound", err)
	}
	if err := s.DeletePasskey(ctx, alice.ID, older.CredentialID); err != nil {
		t.Fatal(err)
	}
	if err := s.DeletePasskey(ctx, alice.ID, older.CredentialID); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("deleting twice: %v, want ErrNotFound", err)
	}
	if got, _ := s.Passkeys(ctx, alice.ID); len(got) != 1 || string(got[0].CredentialID) != string(newer.CredentialID) {
		t.Fatalf("after the delete: %+v", got)
	}
	if got, _ := s.Passkeys(ctx, bob.ID); len(got) != 1 {
		t.Fatalf("bob's passkeys: %+v", got)
	}
}

// testPasskeyCounter: an assertion is recorded only when the signature
// counter moved up, or stays 0 on an authenticator that keeps none.
func testPasskeyCounter(t *testing.T, s store.Store) {
	ctx := context.Background()
	u := mustUser(t, s, "alice")
	counting, zero := newPasskey(u, "counting"), newPasskey(u, "zero")
	counting.SignCount, zero.SignCount = 5, 0
	for _, p := range []store.Passkey{counting, zero} {
		if err := s.AddPasskey(ctx, p); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.UsePasskey(ctx, []byte("nope"), 1, t0); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("UsePasskey of an unknown credential: %v, want ErrNotFound", err)
	}
	for _, c := range []struct {
		key   store.Passkey
		count uint32
		want  error
	}{
		{counting, 6, nil},
		{counting, 6, store.ErrConflict}, // did not move: a clone or a replay
		{counting, 3, store.ErrConflict},
		{counting, 0, store.ErrConflict},
		{counting, 1 << 31, nil}, // above int32
		{counting, 1<<32 - 1, nil},
		{zero, 0, nil},
		{zero, 0, nil},
		{zero, 1, nil}, // it started counting
		{zero, 0, store.ErrConflict},
	} {
		err := s.UsePasskey(ctx, c.key.CredentialID, c.count, t0.Add(time.Hour))
		if !errors.Is(err, c.want) || (c.want == nil && err != nil) {
			t.Fatalf("UsePasskey(%s, %d) = %v, want %v", c.key.Name, c.count, err, c.want)
		}
	}
	got, err := s.PasskeyByCredentialID(ctx, counting.CredentialID)
	if err != nil || got.SignCount != 1<<32-1 || !got.LastUsed.Equal(t0.Add(time.Hour)) {
		t.Fatalf("after use: %+v, %v; want the counter at %d, last used %v", got, err, uint32(1<<32-1), t0.Add(time.Hour))
	}
}

func testConcurrentPasskeyUse(t *testing.T, s store.Store) {
	p := newPasskey(mustUser(t, s, "alice"), "k")
	if err := s.AddPasskey(context.Background(), p); err != nil {
		t.Fatal(err)
	}
	oneWinner(t, 20, store.ErrConflict, func(int) error {
		return s.UsePasskey(context.Background(), p.CredentialID, p.SignCount+1, t0)
	})
}

func newChallenge(u store.User, token string) store.Challenge {
	return store.Challenge{IDHash: digest(token), UserID: u.ID, Username: u.Name, UserGeneration: u.Generation,
		CreatedAt: t0, ExpiresAt: t0.Add(5 * time.Minute)}
}

// testChallengeExpiry: a challenge is read and consumed until its expiry,
// not at it.
func testChallengeExpiry(t *testing.T, s store.Store) {
	ctx := context.Background()
	c := newChallenge(mustUser(t, s, "alice"), "token-1")
	c.UserGeneration = 3
	if err := s.CreateChallenge(ctx, c); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateChallenge(ctx, c); !errors.Is(err, store.ErrExists) {
		t.Fatalf("a taken hash: %v, want ErrExists", err)
	}
	before := c.ExpiresAt.Add(-time.Second)
	if got, err := s.Challenge(ctx, c.IDHash, before); err != nil || !reflect.DeepEqual(got, c) {
		t.Fatalf("Challenge = %+v, %v; want %+v", got, err, c)
	}
	if _, err := s.Challenge(ctx, c.IDHash, c.ExpiresAt); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("Challenge at its expiry: %v, want ErrNotFound", err)
	}
	if _, err := s.ConsumeChallenge(ctx, c.IDHash, c.ExpiresAt); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("ConsumeChallenge at its expiry: %v, want ErrNotFound", err)
	}
	if _, err := s.Challenge(ctx, digest("token-2"), t0); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("an unknown challenge: %v, want ErrNotFound", err)
	}
}

// testChallengeConsumedOnce: consuming returns the challenge and removes it.
func testChallengeConsumedOnce(t *testing.T, s store.Store) {
	ctx := context.Background()
	u := mustUser(t, s, "alice")
	c, other := newChallenge(u, "token-1"), newChallenge(u, "token-2")
	for _, ch := range []store.Challenge{c, other} {
		if err := s.CreateChallenge(ctx, ch); err != nil {
			t.Fatal(err)
		}
	}
	if got, err := s.ConsumeChallenge(ctx, c.IDHash, t0); err != nil || !reflect.DeepEqual(got, c) {
		t.Fatalf("ConsumeChallenge = %+v, %v; want %+v", got, err, c)
	}
	if _, err := s.ConsumeChallenge(ctx, c.IDHash, t0); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("consuming twice: %v, want ErrNotFound", err)
	}
	if _, err := s.Challenge(ctx, c.IDHash, t0); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("a consumed challenge: %v, want ErrNotFound", err)
	}
	if _, err := s.Challenge(ctx, other.IDHash, t0); err != nil {
		t.Fatalf("the other challenge: %v", err)
	}
}

func testConcurrentConsume(t *testing.T, s store.Store) {
	c := newChallenge(mustUser(t, s, "alice"), "token-1")
	if err := s.CreateChallenge(context.Background(), c); err != nil {
		t.Fatal(err)
	}
	oneWinner(t, 20, store.ErrNotFound, func(int) error {
		got, err := s.ConsumeChallenge(context.Background(), c.IDHash, t0)
		if err == nil && !reflect.DeepEqual(got, c) {
			return fmt.Errorf("consumed %+v, want %+v", got, c)
		}
		return err
	})
}

// testPruneChallenges: challenges expired before the time go, the others
// stay.
func testPruneChallenges(t *testing.T, s store.Store) {
	ctx := context.Background()
	u := mustUser(t, s, "alice")
	for i, token := range []string{"t1", "t2", "t3"} {
		c := newChallenge(u, token)
		c.ExpiresAt = t0.Add(time.Duration(i+1) * time.Minute)
		if err := s.CreateChallenge(ctx, c); err != nil {
			t.Fatal(err)
		}
	}
	if n, err := s.PruneChallenges(ctx, t0.Add(2*time.Minute)); err != nil || n != 1 {
		t.Fatalf("PruneChallenges = %d, %v; want 1", n, err)
	}
	if n, err := s.PruneChallenges(ctx, t0.Add(2*time.Minute)); err != nil || n != 0 {
		t.Fatalf("pruning again = %d, %v; want 0", n, err)
	}
	if _, err := s.Challenge(ctx, digest("t2"), t0); err != nil {
		t.Fatalf("the challenge expiring at the time: %v", err)
	}
	if n, err := s.PruneChallenges(ctx, t0.Add(time.Hour)); err != nil || n != 2 {
		t.Fatalf("PruneChallenges later = %d, %v; want 2", n, err)
	}
}

// testUserSecondFactor: a user reads as having a second factor while it
// has a confirmed authenticator or a passkey, whichever way it is read.
func testUserSecondFactor(t *testing.T, s store.Store) {
	ctx := context.Background()
	u := mustUser(t, s, "alice")
	client, err := s.CreateClient(ctx, "client:billing", "cid-1", "h", nil, t0)
	if err != nil {
		t.Fatal(err)
	}
	check := func(step string, want bool) {
		t.Helper()
		byName, err := s.UserByName(ctx, "alice")
		if err != nil || byName.SecondFactor != want {
			t.Fatalf("%s: UserByName SecondFactor = %v, %v; want %v", step, byName.SecondFactor, err, want)
		}
		if users, err := s.ListUsers(ctx, "", 0); err != nil || len(users) != 1 || users[0].SecondFactor != want {
			t.Fatalf("%s: ListUsers = %+v, %v; want SecondFactor %v", step, users, err, want)
		}
	}
	check("a new user", false)
	if err := s.SetTOTP(ctx, u.ID, []byte("s"), t0); err != nil {
		t.Fatal(err)
	}
	check("a pending authenticator", false)
	if err := s.ConfirmTOTP(ctx, u.ID, 1, nil, t0); err != nil {
		t.Fatal(err)
	}
	check("a confirmed authenticator", true)
	if _, err := s.DeleteSecondFactors(ctx, u.ID); err != nil {
		t.Fatal(err)
	}
	check("after a reset", false)
	p := newPasskey(u, "k")
	if err := s.AddPasskey(ctx, p); err != nil {
		t.Fatal(err)
	}
	check("a passkey", true)
	if err := s.DeletePasskey(ctx, u.ID, p.CredentialID); err != nil {
		t.Fatal(err)
	}
	check("its passkey deleted", false)
	if err := s.AddPasskey(ctx, newPasskey(client, "c")); err != nil {
		t.Fatal(err)
	}
	if got, err := s.ClientByID(ctx, "cid-1"); err != nil || !got.SecondFactor {
		t.Fatalf("ClientByID SecondFactor = %v, %v; want true", got.SecondFactor, err)
	}
	if got, err := s.ListClients(ctx); err != nil || len(got) != 1 || !got[0].SecondFactor {
		t.Fatalf("ListClients = %+v, %v; want SecondFactor", got, err)
	}
	check("another account's passkey", false)
}

// testSessionACRAMR: a session's acr and amr are stored as given, read
// back, and kept across rotations.
func testSessionACRAMR(t *testing.T, s store.Store) {
	ctx := context.Background()
	want := newSession(mustUser(t, s, "alice"), "sid-1")
	want.ACR, want.AMR = "urn:authd:acr:mfa", []string{"pwd", "otp", "mfa"}
	if err := s.CreateSession(ctx, want); err != nil {
		t.Fatal(err)
	}
	if got, err := s.Session(ctx, "sid-1"); err != nil || !reflect.DeepEqual(got, want) {
		t.Fatalf("Session =\n %+v, %v\nwant\n %+v", got, err, want)
	}
	if err := s.Rotate(ctx, "sid-1", "r1", rotation("r2", t0), t0); err != nil {
		t.Fatal(err)
	}
	if got, err := s.Session(ctx, "sid-1"); err != nil || got.ACR != want.ACR || !reflect.DeepEqual(got.AMR, want.AMR) {
		t.Fatalf("after Rotate: acr %q amr %q, %v; want %q %q", got.ACR, got.AMR, err, want.ACR, want.AMR)
	}
}

// testStepUpSession: a step-up records the new proof on a live session,
// leaving its tokens alone; a revoked or stale session takes none.
func testStepUpSession(t *testing.T, s store.Store) {
	ctx := context.Background()
	u := mustUser(t, s, "alice")
	for _, id := range []string{"live", "revoked", "stale"} {
		sess := newSession(u, id)
		sess.ACR, sess.AMR = "urn:authd:acr:pwd", []string{"pwd"}
		if err := s.CreateSession(ctx, sess); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.RevokeSession(ctx, "revoked", t0); err != nil {
		t.Fatal(err)
	}
	before, err := s.Session(ctx, "live")
	if err != nil {
		t.Fatal(err)
	}
	later := t0.Add(time.Hour)
	amr := []string{"pwd", "hwk", "mfa"}
	if err := s.StepUpSession(ctx, "live", "urn:authd:acr:mfa", amr, later); err != nil {
		t.Fatal(err)
	}
	want := before
	want.AuthTime, want.ACR, want.AMR = later, "urn:authd:acr:mfa", amr
	if got, err := s.Session(ctx, "live"); err != nil || !reflect.DeepEqual(got, want) {
		t.Fatalf("after the step-up =\n %+v, %v\nwant\n %+v", got, err, want)
	}
	if err := s.StepUpSession(ctx, "nope", "x", nil, later); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("an unknown session: %v, want ErrNotFound", err)
	}
	if err := s.StepUpSession(ctx, "revoked", "x", nil, later); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("a revoked session: %v, want ErrConflict", err)
	}
	if err := s.SetPassword(ctx, "alice", "new-hash", later); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"live", "stale"} {
		if err := s.StepUpSession(ctx, id, "x", nil, later); !errors.Is(err, store.ErrConflict) {
			t.Fatalf("session %s after a password change: %v, want ErrConflict", id, err)
		}
	}
	if got, _ := s.Session(ctx, "stale"); got.ACR != "urn:authd:acr:pwd" || !got.AuthTime.Equal(t0) {
		t.Fatalf("a refused step-up changed the session: %+v", got)
	}
}
