package main

import (
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/authd-dev/authd/store"
	"github.com/authd-dev/authd/token"
)

// dbKeyring is the keyring of instances sharing a database: the keys live
// there, sealed, so every instance signs with the same current key. A
// token signed with a key this instance has not loaded yet (another
// instance rotated) makes it reload, at most every reloadCooldown.
type dbKeyring struct {
	*token.Keyring
	st     store.SigningKeys
	kek    *token.KeyEncryptionKey
	keep   time.Duration
	logger *slog.Logger

	mu       sync.Mutex
	lastMiss time.Time // the last reload an unknown kid caused
}

const reloadCooldown = 10 * time.Second

// openDBKeyring loads the keys, creating the first when there is none.
func openDBKeyring(ctx context.Context, st store.SigningKeys, kek *token.KeyEncryptionKey, keep time.Duration, logger *slog.Logger) (*dbKeyring, error) {
	d := &dbKeyring{st: st, kek: kek, keep: keep, logger: logger}
	if err := d.reload(ctx); err != nil {
		return nil, err
	}
	return d, nil
}

// reload prunes keys whose tokens have all expired, then loads the rest.
func (d *dbKeyring) reload(ctx context.Context) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	keys, err := loadDBKeys(ctx, d.st, d.kek)
	if err != nil {
		return err
	}
	if len(keys) == 0 {
		key, err := addDBKey(ctx, d.st, d.kek, time.Now())
		if err != nil {
			return err
		}
		keys = []token.Key{key}
	}
	live, err := pruneDBKeys(ctx, d.st, keys, d.keep, func(k token.Key) {
		d.logger.Info("pruned a retired signing key: every token it signed has expired", "kid", k.ID)
	})
	if err != nil {
		return err
	}
	if d.Keyring == nil {
		d.Keyring, err = token.NewKeyring(live...)
		return err
	}
	return d.Keyring.Replace(live...)
}

// pruneDBKeys deletes the keys token.Expired finds, telling pruned of each,
// and returns the others.
func pruneDBKeys(ctx context.Context, st store.SigningKeys, keys []token.Key, keep time.Duration, pruned func(token.Key)) ([]token.Key, error) {
	live, expired := token.Expired(keys, time.Now(), keep)
	for _, k := range expired {
		if err := st.DeleteSigningKey(ctx, k.ID); err != nil {
			return nil, err
		}
		pruned(k)
	}
	return live, nil
}

// publicKeys are the stored keys without their sealed halves: enough to
// list and prune them.
func publicKeys(sealed []store.SealedKey) []token.Key {
	keys := make([]token.Key, len(sealed))
	for i, k := range sealed {
		keys[i] = token.Key{ID: k.ID, Created: k.Created, Public: k.Public}
	}
	return token.SortNewestFirst(keys)
}

// VerificationKey reloads once on an unknown kid, then answers.
func (d *dbKeyring) VerificationKey(ctx context.Context, kid string) (any, error) {
	key, err := d.Keyring.VerificationKey(ctx, kid)
	if !errors.Is(err, token.ErrUnknownKey) {
		return key, err
	}
	// Forged kids must not turn into a database read each: one reload per
	// cooldown at most.
	d.mu.Lock()
	recent := time.Since(d.lastMiss) < reloadCooldown
	if !recent {
		d.lastMiss = time.Now()
	}
	d.mu.Unlock()
	if recent {
		return nil, err
	}
	if rerr := d.reload(ctx); rerr != nil {
		return nil, fmt.Errorf("%w: %w", token.ErrKeysUnavailable, rerr)
	}
	return d.Keyring.VerificationKey(ctx, kid)
}

// loadDBKeys opens every key in the database.
func loadDBKeys(ctx context.Context, st store.SigningKeys, kek *token.KeyEncryptionKey) ([]token.Key, error) {
	sealed, err := st.SigningKeys(ctx)
	if err != nil {
		return nil, err
	}
	keys := make([]token.Key, 0, len(sealed))
	for _, s := range sealed {
		priv, err := kek.Open(s.ID, s.Sealed)
		if err != nil {
			return nil, fmt.Errorf("signing key %s: %w", s.ID, err)
		}
		keys = append(keys, token.Key{ID: s.ID, Created: s.Created, Public: priv.Public().(ed25519.PublicKey), Private: priv})
	}
	return keys, nil
}

// addDBKey generates a key, seals it and stores it.
func addDBKey(ctx context.Context, st store.SigningKeys, kek *token.KeyEncryptionKey, now time.Time) (token.Key, error) {
	key, err := token.NewKey(now)
	if err != nil {
		return token.Key{}, err
	}
	sealed, err := kek.Seal(key)
	if err != nil {
		return token.Key{}, err
	}
	err = st.AddSigningKey(ctx, store.SealedKey{ID: key.ID, Created: key.Created, Public: key.Public, Sealed: sealed})
	return key, err
}

// keyEncryptionKey reads the secret that seals keys in a shared database:
// --key-encryption-key-file, or AUTHD_KEY_ENCRYPTION_KEY (base64).
func (s *storeFlags) keyEncryptionKey() (*token.KeyEncryptionKey, error) {
	var secret []byte
	switch {
	case s.kekFile != "":
		b, err := token.ReadSecretFile(s.kekFile)
		if err != nil {
			return nil, err
		}
		secret = b
	case os.Getenv("AUTHD_KEY_ENCRYPTION_KEY") != "":
		b, err := base64.StdEncoding.DecodeString(os.Getenv("AUTHD_KEY_ENCRYPTION_KEY"))
		if err != nil {
			return nil, fmt.Errorf("%w: AUTHD_KEY_ENCRYPTION_KEY is not base64: %v", errUsage, err)
		}
		secret = b
	default:
		return nil, fmt.Errorf("%w: signing keys live in the shared database, sealed: set --key-encryption-key-file or AUTHD_KEY_ENCRYPTION_KEY (at least 32 random bytes, the same on every instance)", errUsage)
	}
	kek, err := token.NewKeyEncryptionKey(secret)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", errUsage, err)
	}
	return kek, nil
}
