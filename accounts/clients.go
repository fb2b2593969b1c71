package accounts

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/authd-dev/authd/store"
	"github.com/authd-dev/authd/token"
)

// ValidateClientName reports what is wrong with a service account's name,
// if anything: 1 to 64 bytes of [a-z0-9:._-], like role names.
func ValidateClientName(name string) error {
	if err := token.ValidateNames([]string{name}); err != nil {
		return fmt.Errorf("client name: %w", err)
	}
	if strings.HasPrefix(name, ClientPrefix) {
		return fmt.Errorf("client name %q: give the name without %q", name, ClientPrefix)
	}
	return nil
}

// newSecret returns a client secret: 256 random bits, base64url.
func newSecret() string {
	var b [32]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go 1.24+).
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// CreateClient adds a service account that may ask for scopes, and returns
// it with its secret, which is stored only as a hash.
func (m *Manager) CreateClient(ctx context.Context, name string, scopes []string) (store.User, string, error) {
	if err := ValidateClientName(name); err != nil {
		return store.User{}, "", invalid("%v", err)
	}
	scopes = slices.Sorted(slices.Values(scopes))
	if err := token.ValidateNames(scopes); err != nil {
		return store.User{}, "", invalid("scopes: %v", err)
	}
	secret := newSecret()
	hash, err := m.hasher.Hash(ctx, secret)
	if err != nil {
		return store.User{}, "", err
	}
	// The id is public, like a username: random so that it says nothing.
	clientID := "authd-" + token.NewID()
	u, err := m.store.CreateClient(ctx, ClientPrefix+name, clientID, hash, scopes, m.cfg.Clock.Now())
	if errors.Is(err, store.ErrExists) {
		return store.User{}, "", exists("client %q already exists", name)
	}
	if err != nil {
		return store.User{}, "", err
	}
	return u, secret, nil
}

// SetClientRequireBinding makes the service account name get only bound
// tokens (a DPoP key, or its client certificate over mutual TLS), or
// bearer tokens again. Its tokens issued so far are left alone.
func (m *Manager) SetClientRequireBinding(ctx context.Context, name string, require bool) error {
	err := m.store.SetRequireBinding(ctx, ClientPrefix+name, require, m.cfg.Clock.Now())
	if errors.Is(err, store.ErrNotFound) {
		return notFound("client %q not found", name)
	}
	return err
}

// Client returns a service account by its name (without ClientPrefix).
func (m *Manager) Client(ctx context.Context, name string) (store.User, error) {
	u, err := m.store.UserByName(ctx, ClientPrefix+name)
	if errors.Is(err, store.ErrNotFound) || (err == nil && u.ClientID == "") {
		return store.User{}, notFound("client %q not found", name)
	}
	return u, err
}

// Clients lists the service accounts.
func (m *Manager) Clients(ctx context.Context) ([]store.User, error) {
	return m.store.ListClients(ctx)
}

// SetClientDisabled disables a service account, revoking the tokens it
// holds, or enables it again.
func (m *Manager) SetClientDisabled(ctx context.Context, name string, disabled bool) (int, error) {
	if _, err := m.Client(ctx, name); err != nil {
		return 0, err
	}
	return m.SetDisabled(ctx, ClientPrefix+name, disabled)
}

// RotateClientSecret gives a service account a new secret, returned once,
// and revokes the tokens issued with the old one.
func (m *Manager) RotateClientSecret(ctx context.Context, name string) (string, int, error) {
	u, err := m.Client(ctx, name)
	if err != nil {
		return "", 0, err
	}
	secret := newSecret()
	n, err := m.setPassword(ctx, u, secret, "")
	if err != nil {
		return "", 0, err
	}
	return secret, n, nil
}

// ClientName is the name of a service account without ClientPrefix.
func ClientName(u store.User) string { return strings.TrimPrefix(u.Name, ClientPrefix) }
