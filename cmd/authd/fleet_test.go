package main_test

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"net/url"
	"os"
	"sync"
	"testing"

	_ "github.com/jackc/pgx/v5/stdlib"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	authv1 "github.com/authd-dev/authd/gen/auth/v1"
)

// postgresDSN returns a DSN on a schema of this test's own, dropped
// afterwards; it skips without AUTHD_TEST_POSTGRES.
func postgresDSN(t *testing.T) string {
	t.Helper()
	dsn := os.Getenv("AUTHD_TEST_POSTGRES")
	if dsn == "" {
		t.Skip("AUTHD_TEST_POSTGRES is not set")
	}
	admin, err := sql.Open("pgx", dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { admin.Close() })
	b := make([]byte, 6)
	rand.Read(b)
	schema := "authd_e2e_" + hex.EncodeToString(b)
	if _, err := admin.Exec(`CREATE SCHEMA ` + schema); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { admin.Exec(`DROP SCHEMA ` + schema + ` CASCADE`) })
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}

func withBearer(tok string) context.Context {
	return metadata.AppendToOutgoingContext(context.Background(), "authorization", "Bearer "+tok)
}

// Two authd processes on one PostgreSQL database (and, on one host, one key
// directory): a session moves freely between them, and rotation, reuse
// detection and logout hold across instances.
func TestE2E_TwoInstancesOnPostgres(t *testing.T) {
	dsn := postgresDSN(t)
	data := t.TempDir()
	t.Setenv("AUTHD_DB", dsn)
	if _, errOut, code := authd(t, data, "pw\n", "user", "add", "dave", "--password-stdin"); code != 0 {
		t.Fatalf("user add: %d %s", code, errOut)
	}
	_, addrA := startServe(t, data, nil)
	_, addrB := startServe(t, data, nil)
	a, b := authv1.NewAuthServiceClient(dial(t, addrA)), authv1.NewAuthServiceClient(dial(t, addrB))
	ctx := context.Background()

	login, err := a.Login(ctx, &authv1.LoginRequest{Username: "dave", Password: "pw"})
	if err != nil {
		t.Fatal(err)
	}
	// Concurrent refreshes of one token, split across A and B: one
	// rotation, every caller gets the same pair.
	pairs := make([]*authv1.RefreshResponse, 10)
	errs := make([]error, 10)
	var wg sync.WaitGroup
	for i := range pairs {
		c := a
		if i%2 == 1 {
			c = b
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			pairs[i], errs[i] = c.Refresh(withBearer(login.RefreshToken), &authv1.RefreshRequest{})
		}()
	}
	wg.Wait()
	for i := range pairs {
		if errs[i] != nil {
			t.Fatalf("refresh %d: %v", i, errs[i])
		}
		if pairs[i].RefreshToken != pairs[0].RefreshToken || pairs[i].AccessToken != pairs[0].AccessToken {
			t.Fatalf("refresh %d got a different pair: the session forked", i)
		}
	}
	next := pairs[0]
	if _, err := b.Verify(ctx, &authv1.VerifyRequest{Token: next.AccessToken}); err != nil {
		t.Fatalf("B does not accept A's session: %v", err)
	}

	// Rotate again on A; the login's refresh token is now an older
	// ancestor: presented on B it is reuse, and the session dies on both.
	third, err := a.Refresh(withBearer(next.RefreshToken), &authv1.RefreshRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.Refresh(withBearer(login.RefreshToken), &authv1.RefreshRequest{}); status.Code(err) != codes.Unauthenticated {
		t.Fatalf("reuse on B: %v", err)
	}
	if _, err := a.Refresh(withBearer(third.RefreshToken), &authv1.RefreshRequest{}); status.Code(err) != codes.Unauthenticated {
		t.Fatalf("the legitimate holder on A after reuse on B: %v", err)
	}

	// Logout on A of a session B has not seen: B refuses its tokens at
	// once, reading the store (B's revocation cache is bounded to 1 s for
	// sessions it has seen).
	other, err := a.Login(ctx, &authv1.LoginRequest{Username: "dave", Password: "pw"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.Logout(withBearer(other.RefreshToken), &authv1.LogoutRequest{}); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Verify(ctx, &authv1.VerifyRequest{Token: other.AccessToken}); status.Code(err) != codes.Unauthenticated {
		t.Fatalf("B after logout on A: %v", err)
	}
	if _, err := b.Refresh(withBearer(other.RefreshToken), &authv1.RefreshRequest{}); status.Code(err) != codes.Unauthenticated {
		t.Fatalf("refresh on B after logout on A: %v", err)
	}
}
