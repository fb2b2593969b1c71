package main

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/base64"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/authd-dev/authd/authdtest/tokens"
	authv1 "github.com/authd-dev/authd/gen/auth/v1"
	examplev1 "github.com/authd-dev/authd/gen/example/v1"
	"github.com/authd-dev/authd/internal/pgschema"
	"github.com/authd-dev/authd/session"
	"github.com/authd-dev/authd/store/redisstore"
)

// refreshSplit refreshes tok n times at once, alternating between a and b.
func refreshSplit(a, b authv1.AuthServiceClient, tok string, n int) ([]*authv1.RefreshResponse, []error) {
	pairs, errs := make([]*authv1.RefreshResponse, n), make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		c := a
		if i%2 == 1 {
			c = b
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			pairs[i], errs[i] = c.Refresh(tokens.Bearer(bg, tok), &authv1.RefreshRequest{})
		}()
	}
	wg.Wait()
	return pairs, errs
}

// Two authd processes on one PostgreSQL database (and, on one host, one key
// directory): a session moves freely between them, and rotation, reuse
// detection and logout hold across instances.
func TestE2E_TwoInstancesOnPostgres(t *testing.T) {
	t.Parallel()
	env := []string{"AUTHD_DB=" + pgschema.ForTest(t, "authd_e2e"), "AUTHD_KEY_ENCRYPTION_KEY=" + testKEK}
	data := t.TempDir()
	if _, errOut, code := authdWith(t, env, data, "long enough pw\n", "user", "add", "dave", "--password-stdin"); code != 0 {
		t.Fatalf("user add: %d %s", code, errOut)
	}
	a := authv1.NewAuthServiceClient(dial(t, startProcess(t, data, env).addr))
	b := authv1.NewAuthServiceClient(dial(t, startProcess(t, data, env).addr))
	ctx := context.Background()

	login, err := a.Login(ctx, &authv1.LoginRequest{Username: "dave", Password: "long enough pw"})
	if err != nil {
		t.Fatal(err)
	}
	// Concurrent refreshes of one token, split across A and B: one
	// rotation, every caller gets the same pair.
	pairs, errs := refreshSplit(a, b, login.RefreshToken, 10)
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

	// Rotate twice more on A; the login's refresh token is now an older
	// ancestor: presented on B it is reuse, and the session dies on both.
	third, err := a.Refresh(tokens.Bearer(bg, next.RefreshToken), &authv1.RefreshRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if third, err = a.Refresh(tokens.Bearer(bg, third.RefreshToken), &authv1.RefreshRequest{}); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Refresh(tokens.Bearer(bg, login.RefreshToken), &authv1.RefreshRequest{}); status.Code(err) != codes.Unauthenticated {
		t.Fatalf("reuse on B: %v", err)
	}
	if _, err := a.Refresh(tokens.Bearer(bg, third.RefreshToken), &authv1.RefreshRequest{}); status.Code(err) != codes.Unauthenticated {
		t.Fatalf("the legitimate holder on A after reuse on B: %v", err)
	}

	// Logout on A of a session B has not seen: B refuses its tokens at
	// once, reading the store (B's revocation cache is bounded to 1 s for
	// sessions it has seen).
	other, err := a.Login(ctx, &authv1.LoginRequest{Username: "dave", Password: "long enough pw"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.Logout(tokens.Bearer(bg, other.RefreshToken), &authv1.LogoutRequest{}); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Verify(ctx, &authv1.VerifyRequest{Token: other.AccessToken}); status.Code(err) != codes.Unauthenticated {
		t.Fatalf("B after logout on A: %v", err)
	}
	if _, err := b.Refresh(tokens.Bearer(bg, other.RefreshToken), &authv1.RefreshRequest{}); status.Code(err) != codes.Unauthenticated {
		t.Fatalf("refresh on B after logout on A: %v", err)
	}
}

// startGreeter runs the example consumer against authd at authdAddr.
func startGreeter(t *testing.T, authdAddr string, args ...string) string {
	t.Helper()
	addr, _ := startGreeterBin(t, greeterBin, authdAddr, args...)
	return addr
}

// startGreeterBin runs the greeter binary bin against authd at authdAddr
// and returns its address and process.
func startGreeterBin(t *testing.T, bin, authdAddr string, args ...string) (string, *os.Process) {
	t.Helper()
	cmd := exec.Command(bin, append([]string{"--addr", "127.0.0.1:0", "--authd", authdAddr}, args...)...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	var addr string
	readLog(stderr).await(t, 0, "greeter serving", func(line string) bool {
		m := greeterServing.FindStringSubmatch(line)
		if m != nil {
			addr = m[1]
		}
		return m != nil
	})
	return addr, cmd.Process
}

var greeterServing = regexp.MustCompile(`greeter serving.* addr=(\S+)`)

// The fleet: two authd processes on PostgreSQL and Redis, and the example
// consumer: throttling counters are shared, and a logout on A reaches B and
// the consumer through the Redis feed, though both had just accepted the
// token: B refuses it before its revocation cache could have expired, the
// consumer though its own poll is an hour away. It is not parallel: B's
// check is held to a real-time bound (its cache TTL), best kept clear of
// the other tests' processes.
func TestE2E_FleetWithRedis(t *testing.T) {
	dsn := pgschema.ForTest(t, "authd_e2e")
	redisURL := os.Getenv("AUTHD_TEST_REDIS")
	if redisURL == "" {
		t.Skip("AUTHD_TEST_REDIS is not set")
	}
	rdb, err := redisstore.Open(context.Background(), redisURL)
	if err != nil {
		t.Fatal(err)
	}
	clearCounters := func() {
		keys, _ := rdb.Keys(context.Background(), "authd:login-failures:*").Result()
		if len(keys) > 0 {
			rdb.Del(context.Background(), keys...)
		}
	}
	clearCounters()
	t.Cleanup(func() { clearCounters(); rdb.Close() })

	data := t.TempDir()
	env := []string{"AUTHD_DB=" + dsn, "AUTHD_KEY_ENCRYPTION_KEY=" + testKEK, "AUTHD_REDIS=" + redisURL}
	authdWith(t, env, data, "long enough pw\n", "user", "add", "ivan", "--password-stdin")
	authdWith(t, env, data, "long enough pw\n", "user", "add", "judy", "--password-stdin")
	a := authv1.NewAuthServiceClient(dial(t, startProcess(t, data, env).addr))
	addrB := startProcess(t, data, env).addr
	b := authv1.NewAuthServiceClient(dial(t, addrB))
	g := examplev1.NewGreeterServiceClient(dial(t, startGreeter(t, addrB, "--redis", redisURL, "--revocation-poll", "1h")))
	ctx := context.Background()

	for range 5 {
		if _, err := a.Login(ctx, &authv1.LoginRequest{Username: "ivan", Password: "guess"}); status.Code(err) != codes.Unauthenticated {
			t.Fatalf("wrong password on A: %v", err)
		}
	}
	if _, err := b.Login(ctx, &authv1.LoginRequest{Username: "ivan", Password: "long enough pw"}); status.Code(err) != codes.ResourceExhausted {
		t.Fatalf("B does not share A's throttling counters: %v", err)
	}

	login, err := a.Login(ctx, &authv1.LoginRequest{Username: "judy", Password: "long enough pw"})
	if err != nil {
		t.Fatal(err)
	}
	// B remembers the session as live for session.DefaultCacheTTL from
	// its check, which is after this instant.
	cachedAt := time.Now()
	if _, err := b.Verify(ctx, &authv1.VerifyRequest{Token: login.AccessToken}); err != nil {
		t.Fatal(err)
	}
	if _, err := g.WhoAmI(tokens.Bearer(bg, login.AccessToken), &examplev1.WhoAmIRequest{}); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Logout(tokens.Bearer(bg, login.AccessToken), &authv1.LogoutRequest{}); err != nil {
		t.Fatal(err)
	}
	refused := func(err error) error {
		if status.Code(err) == codes.Unauthenticated {
			return nil
		}
		return fmt.Errorf("still accepted (%v)", err)
	}
	// A refusal answered before the cache entry could expire can only come
	// from the feed (B forgets the session); a later one proves nothing.
	retry(t, "B refuses the logged-out session while its cache still holds it", cachedAt.Add(session.DefaultCacheTTL), func() error {
		_, err := b.Verify(ctx, &authv1.VerifyRequest{Token: login.AccessToken})
		return refused(err)
	})
	// The consumer's next poll is an hour away: only the feed's nudge
	// makes it refuse.
	retry(t, "the consumer refuses the logged-out session", time.Now().Add(patience), func() error {
		_, err := g.WhoAmI(tokens.Bearer(bg, login.AccessToken), &examplev1.WhoAmIRequest{})
		return refused(err)
	})
}

// testKEK is a key-encryption secret for the tests (base64 of 32 bytes).
var testKEK = base64.StdEncoding.EncodeToString([]byte("0123456789abcdef0123456789abcdef"))

// On a shared database the signing keys live in it, sealed: instances with
// separate data dirs sign and verify with the same keys, a rotation by the
// CLI reaches them all, and nothing starts without the right secret.
func TestE2E_KeysInSharedDatabase(t *testing.T) {
	t.Parallel()
	dsn := pgschema.ForTest(t, "authd_e2e")
	dataA, dataB := t.TempDir(), t.TempDir()
	if _, errOut, code := authdWith(t, []string{"AUTHD_DB=" + dsn}, dataA, "", "serve", "--addr", "127.0.0.1:0"); code != 1 || !strings.Contains(errOut, "AUTHD_KEY_ENCRYPTION_KEY") {
		t.Fatalf("serve without a key-encryption secret: exit %d, %s", code, errOut)
	}
	env := []string{"AUTHD_DB=" + dsn, "AUTHD_KEY_ENCRYPTION_KEY=" + testKEK}
	authdWith(t, env, dataA, "long enough pw\n", "user", "add", "kim", "--password-stdin")
	srvA := startProcess(t, dataA, env)
	a := authv1.NewAuthServiceClient(dial(t, srvA.addr))
	b := authv1.NewAuthServiceClient(dial(t, startProcess(t, dataB, env).addr))
	ctx := context.Background()
	first, err := a.Login(ctx, &authv1.LoginRequest{Username: "kim", Password: "long enough pw"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.Verify(ctx, &authv1.VerifyRequest{Token: first.AccessToken}); err != nil {
		t.Fatalf("B does not verify A's token: %v", err)
	}
	for _, dir := range []string{dataA, dataB} {
		if files, _ := filepath.Glob(filepath.Join(dir, "keys", "*")); len(files) != 0 {
			t.Fatalf("key files on disk with a shared database: %v", files)
		}
	}
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var sealed []byte
	if err := db.QueryRow(`SELECT sealed_private FROM signing_keys`).Scan(&sealed); err != nil {
		t.Fatal(err)
	}
	ed25519PKCS8 := []byte{0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70}
	if bytes.Contains(sealed, ed25519PKCS8) {
		t.Fatal("the private key is stored in clear")
	}

	// At once (--now): the key signs at A's SIGHUP, before B has reloaded.
	out, errOut, code := authdWith(t, env, dataA, "", "keys", "rotate", "--now")
	if code != 0 {
		t.Fatal(errOut)
	}
	newKid := regexp.MustCompile(`new signing key (\S+)`).FindStringSubmatch(out)[1]
	mark := srvA.log.mark()
	srvA.cmd.Process.Signal(syscall.SIGHUP)
	srvA.log.awaitMsg(t, mark, "signing keys reloaded", "current_kid="+newKid)
	rotated, err := a.Login(ctx, &authv1.LoginRequest{Username: "kim", Password: "long enough pw"})
	if err != nil {
		t.Fatal(err)
	}
	if kid := tokens.KeyID(t, rotated.AccessToken); kid != newKid {
		t.Fatalf("after the reload, A signs with %s, want the new key %s", kid, newKid)
	}
	// B has not reloaded: the unknown kid makes it.
	if _, err := b.Verify(ctx, &authv1.VerifyRequest{Token: rotated.AccessToken}); err != nil {
		t.Fatalf("B does not verify a token of the rotated key: %v", err)
	}
	if _, err := a.Verify(ctx, &authv1.VerifyRequest{Token: first.AccessToken}); err != nil {
		t.Fatalf("A no longer verifies a token of the old key: %v", err)
	}
	out, _, _ = authdWith(t, env, dataA, "", "keys", "list")
	if !strings.Contains(out, newKid) || !strings.Contains(out, "verify-only until") {
		t.Fatalf("keys list:\n%s", out)
	}

	wrongKEK := base64.StdEncoding.EncodeToString([]byte("another secret, 32 bytes or more!"))
	if _, errOut, code := authdWith(t, []string{"AUTHD_DB=" + dsn, "AUTHD_KEY_ENCRYPTION_KEY=" + wrongKEK}, t.TempDir(), "", "serve", "--addr", "127.0.0.1:0"); code == 0 || !strings.Contains(errOut, "does not open") {
		t.Fatalf("serve with the wrong secret: exit %d, %s", code, errOut)
	}
}

// With the grace off (--refresh-reuse-grace 0), concurrent refreshes of one
// token split across two instances still all get the same pair: the one
// that rotates first, and every other a spent token whose successor is
// unused, or a twin that lost the compare-and-swap. Once that successor
// has been used, the login's token is reuse at once, on either instance.
func TestE2E_StrictRefreshAcrossInstances(t *testing.T) {
	t.Parallel()
	env := []string{"AUTHD_DB=" + pgschema.ForTest(t, "authd_e2e"), "AUTHD_KEY_ENCRYPTION_KEY=" + testKEK}
	data := t.TempDir()
	authdWith(t, env, data, "long enough pw\n", "user", "add", "lena", "--password-stdin")
	a := authv1.NewAuthServiceClient(dial(t, startProcess(t, data, env, "--refresh-reuse-grace", "0").addr))
	b := authv1.NewAuthServiceClient(dial(t, startProcess(t, data, env, "--refresh-reuse-grace", "0").addr))
	login, err := a.Login(context.Background(), &authv1.LoginRequest{Username: "lena", Password: "long enough pw"})
	if err != nil {
		t.Fatal(err)
	}
	pairs, errs := refreshSplit(a, b, login.RefreshToken, 10)
	for i, err := range errs {
		if err != nil {
			t.Fatalf("refresh %d: %v", i, err)
		}
		if pairs[i].RefreshToken != pairs[0].RefreshToken {
			t.Fatalf("refresh %d got another pair: the session forked", i)
		}
	}
	if _, err := b.Refresh(tokens.Bearer(bg, pairs[0].RefreshToken), &authv1.RefreshRequest{}); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Refresh(tokens.Bearer(bg, login.RefreshToken), &authv1.RefreshRequest{}); status.Code(err) != codes.Unauthenticated {
		t.Fatalf("the login's token after its successor was used: %v, want reuse", err)
	}
}
