package main

import (
	"context"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/authd-dev/authd/authdtest/tokens"
	authv1 "github.com/authd-dev/authd/gen/auth/v1"
	"github.com/authd-dev/authd/jwks"
	"github.com/authd-dev/authd/keys"
	"github.com/authd-dev/authd/token"
)

// addKeyFile writes a key created at created into the key dir dir.
func addKeyFile(t *testing.T, dir string, created time.Time) keys.Key {
	t.Helper()
	key, err := keys.NewKey(created)
	if err == nil {
		err = keys.Dir(dir).Add(context.Background(), key)
	}
	if err != nil {
		t.Fatal(err)
	}
	return key
}

func TestE2E_KeyStatesAndPruning(t *testing.T) {
	t.Parallel()
	data := t.TempDir()
	dir := filepath.Join(data, "keys")
	now := time.Now()
	old := addKeyFile(t, dir, now.Add(-72*time.Hour))
	middle := addKeyFile(t, dir, now.Add(-50*time.Hour)) // retired old 50 h ago: past 24 h + slack
	newest := addKeyFile(t, dir, now.Add(-time.Hour))    // retired middle an hour ago

	out, errOut, code := authd(t, data, "", "keys", "list")
	if code != 0 {
		t.Fatal(errOut)
	}
	for kid, state := range map[string]string{newest.ID: `current`, middle.ID: `verify-only until \S+`, old.ID: `expired`} {
		if !regexp.MustCompile(regexp.QuoteMeta(kid) + `\s+EdDSA\s+\S+\s+` + state).MatchString(out) {
			t.Errorf("keys list: %s is not %s:\n%s", kid, state, out)
		}
	}
	out, _, _ = authd(t, data, "", "keys", "prune")
	if !strings.Contains(out, "pruned "+old.ID) || !strings.Contains(out, "1 key(s) pruned") {
		t.Fatalf("keys prune:\n%s", out)
	}
	left, _ := filepath.Glob(filepath.Join(dir, "*.pem"))
	if len(left) != 2 {
		t.Fatalf("keys left: %v", left)
	}
	// The middle key, retired an hour ago, outlives even a 1 h refresh
	// lifetime by the reload slack.
	if _, _, code := authd(t, data, "", "keys", "prune", "--refresh-ttl", "1h"); code != 0 {
		t.Fatal("prune with --refresh-ttl")
	}
	left, _ = filepath.Glob(filepath.Join(dir, "*.pem"))
	if len(left) != 2 {
		t.Fatalf("a key retired an hour ago was pruned with 1h+1h slack: %v", left)
	}
}

// Rotation without downtime: tokens signed before `keys rotate` keep
// verifying at authd and at a consumer that refreshes the JWKS, while new
// tokens are signed with the new key.
func TestE2E_KeyRotationWithoutDowntime(t *testing.T) {
	t.Parallel()
	data := t.TempDir()
	authd(t, data, "long enough pw\n", "user", "add", "hana", "--password-stdin")
	srv := startProcess(t, data, nil)
	conn := dial(t, srv.addr)
	client := authv1.NewAuthServiceClient(conn)
	ctx := context.Background()
	before, err := client.Login(ctx, &authv1.LoginRequest{Username: "hana", Password: "long enough pw"})
	if err != nil {
		t.Fatal(err)
	}
	consumerKeys := jwks.New(jwks.GRPC(conn), jwks.Config{Cooldown: time.Nanosecond})
	consumer, err := token.NewVerifier(consumerKeys)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := consumer.Verify(ctx, before.AccessToken); err != nil {
		t.Fatal(err)
	}

	out, errOut, code := authd(t, data, "", "keys", "rotate")
	if code != 0 {
		t.Fatal(errOut)
	}
	newKid := regexp.MustCompile(`new signing key (\S+)`).FindStringSubmatch(out)[1]
	mark := srv.log.mark()
	srv.cmd.Process.Signal(syscall.SIGHUP)
	srv.log.awaitMsg(t, mark, "signing keys reloaded", "current_kid="+newKid)
	after, err := client.Login(ctx, &authv1.LoginRequest{Username: "hana", Password: "long enough pw"})
	if err != nil {
		t.Fatal(err)
	}
	if kid := tokens.KeyID(t, after.AccessToken); kid != newKid {
		t.Fatalf("after the reload, a login is signed with %s, want the new key %s", kid, newKid)
	}
	for name, tok := range map[string]string{"old": before.AccessToken, "new": after.AccessToken} {
		if _, err := client.Verify(ctx, &authv1.VerifyRequest{Token: tok}); err != nil {
			t.Errorf("authd refuses the %s key's token: %v", name, err)
		}
		if _, err := consumer.Verify(ctx, tok); err != nil {
			t.Errorf("the consumer refuses the %s key's token: %v", name, err)
		}
	}
	jwks, err := client.GetJWKS(ctx, &authv1.GetJWKSRequest{})
	if err != nil || len(jwks.Keys) != 2 {
		t.Fatalf("JWKS after rotation: %v, %v; want both keys", jwks, err)
	}
}
