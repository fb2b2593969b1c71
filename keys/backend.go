package keys

import (
	"context"
	"crypto/ed25519"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/authd-dev/authd/store"
	"github.com/authd-dev/authd/token"
)

// Backend is where signing keys are kept.
type Backend interface {
	// Keys returns every stored key with its private half. Any key that
	// cannot be read is an error: silently skipping it would invalidate the
	// tokens it signed.
	Keys(ctx context.Context) ([]Key, error)
	// PublicKeys returns every stored key, private halves possibly absent:
	// enough to list and prune them.
	PublicKeys(ctx context.Context) ([]Key, error)
	// Add stores a new key.
	Add(ctx context.Context, key Key) error
	// Delete removes a key; removing a missing one is no error.
	Delete(ctx context.Context, kid string) error
}

// Dir keeps keys as PKCS#8 PEM files named <kid>.pem (mode 0600) in dir,
// created (0700) when the first key is added.
func Dir(dir string) Backend { return dirBackend(dir) }

type dirBackend string

// The PEM headers of a key file: when it was created, and when it starts
// signing (absent: from its creation, as in files written before
// activation times existed).
const (
	pemCreatedHeader   = "Created"
	pemActivatesHeader = "Activates"
)

func (d dirBackend) Keys(context.Context) ([]Key, error) {
	entries, err := os.ReadDir(string(d))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read key dir: %w", err)
	}
	var keys []Key
	for _, e := range entries {
		if e.IsDir() || !strings.HasSuffix(e.Name(), ".pem") {
			continue
		}
		key, err := readKeyFile(filepath.Join(string(d), e.Name()))
		if err != nil {
			return nil, err
		}
		keys = append(keys, key)
	}
	return keys, nil
}

func (d dirBackend) PublicKeys(ctx context.Context) ([]Key, error) { return d.Keys(ctx) }

func (d dirBackend) Add(_ context.Context, key Key) error {
	if err := os.MkdirAll(string(d), 0o700); err != nil {
		return fmt.Errorf("create key dir: %w", err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(key.Private)
	if err != nil {
		return fmt.Errorf("encode key: %w", err)
	}
	block := &pem.Block{
		Type:    "PRIVATE KEY",
		Headers: map[string]string{pemCreatedHeader: key.Created.Format(time.RFC3339Nano)},
		Bytes:   der,
	}
	if !key.Activates.IsZero() {
		block.Headers[pemActivatesHeader] = key.Activates.UTC().Format(time.RFC3339Nano)
	}
	path := filepath.Join(string(d), key.ID+".pem")
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("write key: %w", err)
	}
	if err := errors.Join(pem.Encode(f, block), f.Sync(), f.Close()); err != nil {
		return fmt.Errorf("write key %s: %w", path, err)
	}
	return nil
}

func (d dirBackend) Delete(_ context.Context, kid string) error {
	err := os.Remove(filepath.Join(string(d), kid+".pem"))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("delete key %s: %w", kid, err)
	}
	return nil
}

func readKeyFile(path string) (Key, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return Key{}, fmt.Errorf("read signing key: %w", err)
	}
	block, _ := pem.Decode(data)
	if block == nil || block.Type != "PRIVATE KEY" {
		return Key{}, fmt.Errorf("signing key %s: not a PEM private key", path)
	}
	parsed, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return Key{}, fmt.Errorf("signing key %s: %w", path, err)
	}
	priv, ok := parsed.(ed25519.PrivateKey)
	if !ok {
		return Key{}, fmt.Errorf("signing key %s: not an Ed25519 key", path)
	}
	created, err := time.Parse(time.RFC3339Nano, block.Headers[pemCreatedHeader])
	if err != nil {
		return Key{}, fmt.Errorf("signing key %s: bad %s header: %w", path, pemCreatedHeader, err)
	}
	var activates time.Time
	if v, ok := block.Headers[pemActivatesHeader]; ok {
		if activates, err = time.Parse(time.RFC3339Nano, v); err != nil {
			return Key{}, fmt.Errorf("signing key %s: bad %s header: %w", path, pemActivatesHeader, err)
		}
	}
	pub := priv.Public().(ed25519.PublicKey)
	key := Key{ID: token.Thumbprint(pub), Created: created, Activates: activates, Public: pub, Private: priv}
	if filepath.Base(path) != key.ID+".pem" {
		return Key{}, fmt.Errorf("signing key %s: file name does not match its kid %s", path, key.ID)
	}
	return key, nil
}

// Database keeps keys as rows of a shared database, the private half sealed
// with kek. kek may be nil for listing and pruning, which need no private
// half; Keys and Add then fail with ErrNoSecret.
func Database(st store.SigningKeys, kek *KeyEncryptionKey) Backend {
	return &dbBackend{st: st, kek: kek}
}

// ErrNoSecret: the database keeps the keys sealed, and no key-encryption
// secret was given.
var ErrNoSecret = errors.New("signing keys live in the shared database, sealed: a key-encryption secret is needed")

type dbBackend struct {
	st  store.SigningKeys
	kek *KeyEncryptionKey
}

func (d *dbBackend) Keys(ctx context.Context) ([]Key, error) {
	if d.kek == nil {
		return nil, ErrNoSecret
	}
	sealed, err := d.st.SigningKeys(ctx)
	if err != nil {
		return nil, err
	}
	keys := make([]Key, 0, len(sealed))
	for _, s := range sealed {
		priv, err := d.kek.Open(s.ID, s.Sealed)
		if err != nil {
			return nil, fmt.Errorf("signing key %s: %w", s.ID, err)
		}
		keys = append(keys, Key{ID: s.ID, Created: s.Created, Activates: s.Activates, Public: priv.Public().(ed25519.PublicKey), Private: priv})
	}
	return keys, nil
}

func (d *dbBackend) PublicKeys(ctx context.Context) ([]Key, error) {
	sealed, err := d.st.SigningKeys(ctx)
	if err != nil {
		return nil, err
	}
	keys := make([]Key, len(sealed))
	for i, k := range sealed {
		keys[i] = Key{ID: k.ID, Created: k.Created, Activates: k.Activates, Public: k.Public}
	}
	return keys, nil
}

func (d *dbBackend) Add(ctx context.Context, key Key) error {
	if d.kek == nil {
		return ErrNoSecret
	}
	sealed, err := d.kek.Seal(key)
	if err != nil {
		return err
	}
	return d.st.AddSigningKey(ctx, store.SealedKey{ID: key.ID, Created: key.Created, Activates: key.Activates, Public: key.Public, Sealed: sealed})
}

func (d *dbBackend) Delete(ctx context.Context, kid string) error {
	return d.st.DeleteSigningKey(ctx, kid)
}

// ReadSecretFile reads a secret (an HS256 key, a key-encryption secret):
// raw bytes, one trailing newline stripped.
func ReadSecretFile(path string) ([]byte, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read secret file: %w", err)
	}
	if n := len(data); n > 0 && data[n-1] == '\n' {
		data = data[:n-1]
		if n := len(data); n > 0 && data[n-1] == '\r' {
			data = data[:n-1]
		}
	}
	return data, nil
}
