package token

import (
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
)

const pemCreatedHeader = "Created"

// LoadKeyDir reads the Ed25519 keys kept as PKCS#8 PEM files (<kid>.pem, mode
// 0600) in dir. When dir holds no key yet, it creates dir and a first key.
// Any unreadable or corrupt file is an error: silently making a new key would
// invalidate every token in circulation.
func LoadKeyDir(dir string, now time.Time) (*Keyring, error) {
	keys, err := readKeyDir(dir)
	if err != nil {
		return nil, err
	}
	if len(keys) == 0 {
		key, err := AddKeyFile(dir, now)
		if err != nil {
			return nil, err
		}
		keys = append(keys, key)
	}
	return NewKeyring(keys...)
}

// AddKeyFile generates a key, writes it to dir and returns it.
func AddKeyFile(dir string, now time.Time) (Key, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return Key{}, fmt.Errorf("create key dir: %w", err)
	}
	key, err := NewKey(now)
	if err != nil {
		return Key{}, err
	}
	der, err := x509.MarshalPKCS8PrivateKey(key.Private)
	if err != nil {
		return Key{}, fmt.Errorf("encode key: %w", err)
	}
	block := &pem.Block{
		Type:    "PRIVATE KEY",
		Headers: map[string]string{pemCreatedHeader: key.Created.Format(time.RFC3339Nano)},
		Bytes:   der,
	}
	path := filepath.Join(dir, key.ID+".pem")
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return Key{}, fmt.Errorf("write key: %w", err)
	}
	if err := errors.Join(pem.Encode(f, block), f.Sync(), f.Close()); err != nil {
		return Key{}, fmt.Errorf("write key %s: %w", path, err)
	}
	return key, nil
}

func readKeyDir(dir string) ([]Key, error) {
	entries, err := os.ReadDir(dir)
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
		key, err := readKeyFile(filepath.Join(dir, e.Name()))
		if err != nil {
			return nil, err
		}
		keys = append(keys, key)
	}
	return keys, nil
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
	pub := priv.Public().(ed25519.PublicKey)
	key := Key{ID: Thumbprint(pub), Created: created, Public: pub, Private: priv}
	if filepath.Base(path) != key.ID+".pem" {
		return Key{}, fmt.Errorf("signing key %s: file name does not match its kid %s", path, key.ID)
	}
	return key, nil
}

// ReadSecretFile reads an HS256 secret: raw bytes, one trailing newline stripped.
func ReadSecretFile(path string) ([]byte, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read secret file: %w", err)
	}
	data = trimNewline(data)
	return data, nil
}

func trimNewline(b []byte) []byte {
	if n := len(b); n > 0 && b[n-1] == '\n' {
		b = b[:n-1]
		if n := len(b); n > 0 && b[n-1] == '\r' {
			b = b[:n-1]
		}
	}
	return b
}

// Retirements returns, for every key but the newest, when it was retired:
// when the next newer key was created. Tokens it signed were issued before
// then (give or take a running authd's reload), so they have all expired
// once the longest token lifetime has passed since.
func Retirements(keys []Key) map[string]time.Time {
	sorted := SortNewestFirst(keys)
	out := make(map[string]time.Time, len(sorted))
	for i := 1; i < len(sorted); i++ {
		out[sorted[i].ID] = sorted[i-1].Created
	}
	return out
}

// Expired splits keys into those still needed and those retired more than
// keep before now, whose tokens have all expired. The newest key is never
// expired.
func Expired(keys []Key, now time.Time, keep time.Duration) (live, expired []Key) {
	retired := Retirements(keys)
	for _, key := range keys {
		if at, ok := retired[key.ID]; ok && now.Sub(at) > keep {
			expired = append(expired, key)
		} else {
			live = append(live, key)
		}
	}
	return live, expired
}

// PruneKeyDir deletes the key files of the keys Expired at now and returns
// the keys that remain and those pruned.
func PruneKeyDir(dir string, now time.Time, keep time.Duration) (remaining, pruned []Key, err error) {
	keys, err := readKeyDir(dir)
	if err != nil {
		return nil, nil, err
	}
	remaining, pruned = Expired(keys, now, keep)
	for _, key := range pruned {
		if err := os.Remove(filepath.Join(dir, key.ID+".pem")); err != nil {
			return nil, nil, fmt.Errorf("prune key %s: %w", key.ID, err)
		}
	}
	return remaining, pruned, nil
}
