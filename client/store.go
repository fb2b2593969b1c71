package client

import (
	"context"
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
)

// Tokens are what a client holds of a session.
type Tokens struct {
	Access  string `json:"access_token"`
	Refresh string `json:"refresh_token"`
	// DPoPKey is the PKCS#8 PEM of the key the tokens are bound to
	// (Config.DPoP), "" without one: as secret as the refresh token, and
	// what makes the tokens usable.
	DPoPKey string `json:"dpop_key,omitempty"`
}

// TokenStore keeps tokens between runs of an application. Save is called
// after every change (login, refresh, renewal, logout) with the whole state;
// a zero Tokens means the session ended. Save must not call the Client.
type TokenStore interface {
	Load(ctx context.Context) (Tokens, error)
	Save(ctx context.Context, t Tokens) error
}

// MemoryStore keeps tokens in memory only: the default.
type MemoryStore struct {
	mu sync.Mutex
	t  Tokens
}

// Load returns the saved tokens.
func (m *MemoryStore) Load(context.Context) (Tokens, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.t, nil
}

// Save replaces the saved tokens.
func (m *MemoryStore) Save(_ context.Context, t Tokens) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.t = t
	return nil
}

// FileStore keeps tokens as JSON in a file readable only by its owner,
// replaced atomically on each save and removed when the session ends.
type FileStore struct {
	Path string
}

// Load reads the file; a missing file is no session.
func (f FileStore) Load(context.Context) (Tokens, error) {
	var t Tokens
	b, err := os.ReadFile(f.Path)
	if errors.Is(err, fs.ErrNotExist) {
		return t, nil
	}
	if err != nil {
		return t, err
	}
	return t, json.Unmarshal(b, &t)
}

// Save writes t to a temporary file next to Path and renames it into place.
func (f FileStore) Save(_ context.Context, t Tokens) error {
	if t == (Tokens{}) {
		err := os.Remove(f.Path)
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		return err
	}
	b, err := json.Marshal(t)
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(f.Path), ".tokens-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name()) // fails harmlessly once renamed
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return err
	}
	if _, err := tmp.Write(b); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), f.Path)
}
