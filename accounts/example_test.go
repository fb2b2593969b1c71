package accounts_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/authd-dev/authd/accounts"
	"github.com/authd-dev/authd/password"
	"github.com/authd-dev/authd/store/sqlite"
)

// The accounts of a store: a person with roles, and a service account with
// a secret shown once and the scopes it may ask for. Changing a person's
// roles ends their sessions.
func ExampleManager() {
	dir, _ := os.MkdirTemp("", "accounts")
	defer os.RemoveAll(dir)
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(dir, "authd.db"))
	if err != nil {
		panic(err)
	}
	defer st.Close()
	hasher, _ := password.NewHasher(password.Params{Memory: 64, Iterations: 1, Parallelism: 1, SaltLength: 16, KeyLength: 32}, 1)
	m := accounts.New(st, hasher, accounts.Config{})

	u, _ := m.CreateUser(ctx, "root", "correct horse battery", []string{"authd:admin"})
	fmt.Println(u.Name, u.Roles)
	u, revoked, _ := m.ChangeRoles(ctx, "root", []string{"support"}, nil)
	fmt.Println(u.Roles, "sessions ended:", revoked)
	_, _, err = m.ChangeRoles(ctx, "root", nil, []string{"nope"})
	fmt.Println(err)

	c, secret, _ := m.CreateClient(ctx, "billing", []string{"orders:write", "orders:read"})
	fmt.Println(accounts.ClientName(c), c.Scopes, strings.HasPrefix(c.ClientID, "authd-"), len(secret))
	// Output:
	// root [authd:admin]
	// [authd:admin support] sessions ended: 0
	// user "root" has no role "nope" (roles: [authd:admin support])
	// billing [orders:read orders:write] true 43
}
