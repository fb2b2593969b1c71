// Package accounts manages who can get a token from authd: users, their
// roles and passwords, and service accounts (machine callers with a client
// id, a secret and granted scopes). It is what `authd user`, `authd client`
// and AdminService do, in one place, with one set of rules.
//
// Every change that takes rights away (a new password, a disabled account,
// changed roles, a rotated secret) ends the account's sessions, so no token
// outlives the rights it was issued with by more than the revocation bound.
//
//	m := accounts.New(st, hasher, accounts.Config{Sessions: engine})
//	u, err := m.CreateUser(ctx, "root", password, []string{"authd:admin"})
package accounts
