package main

import (
	"context"
	"fmt"
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
		if !regexp.MustCompile(regexp.QuoteMeta(kid) + `\s+EdDSA\s+\S+\s+\S+\s+` + state).MatchString(out) {
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

// Rotation without downtime: `keys rotate` adds a next key, which authd
// publishes at its reload (here a SIGHUP) while the current key goes on
// signing; at the activation authd signs with the new key, with no reload
// needed. Tokens signed before keep verifying at authd and at a consumer
// of the JWKS.
func TestE2E_KeyRotationWithoutDowntime(t *testing.T) {
	t.Parallel()
	data := t.TempDir()
	authd(t, data, "long enough pw\n", "user", "add", "hana", "--password-stdin")
	srv := startProcess(t, data, nil)
	conn := dial(t, srv.addr)
	client := authv1.NewAuthServiceClient(conn)
	ctx := context.Background()
	login := func() *authv1.LoginResponse {
		t.Helper()
		resp, err := client.Login(ctx, &authv1.LoginRequest{Username: "hana", Password: "long enough pw"})
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}
	before := login()
	oldKid := tokens.KeyID(t, before.AccessToken)
	consumerKeys := jwks.New(jwks.GRPC(conn), jwks.Config{Cooldown: time.Nanosecond})
	consumer, err := token.NewVerifier(consumerKeys)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := consumer.Verify(ctx, before.AccessToken); err != nil {
		t.Fatal(err)
	}

	const delay = 3 * time.Second
	out, errOut, code := authd(t, data, "", "keys", "rotate", "--key-propagation-delay", delay.String())
	if code != 0 {
		t.Fatal(errOut)
	}
	rotated := time.Now()
	newKid := regexp.MustCompile(`new signing key (\S+) is next`).FindStringSubmatch(out)[1]
	mark := srv.log.mark()
	srv.cmd.Process.Signal(syscall.SIGHUP)
	srv.log.awaitMsg(t, mark, "signing keys reloaded", "current_kid="+oldKid, "next_kid="+newKid)
	published, err := client.GetJWKS(ctx, &authv1.GetJWKSRequest{})
	if err != nil || len(published.Keys) != 2 {
		t.Fatalf("JWKS after the reload: %v, %v; want both keys", published, err)
	}
	if meanwhile := login(); time.Since(rotated) < delay {
		if kid := tokens.KeyID(t, meanwhile.AccessToken); kid != oldKid {
			t.Fatalf("before the activation, a login is signed with %s, want the current key %s", kid, oldKid)
		}
	}
	var after *authv1.LoginResponse
	retry(t, "authd signs with the new key after its activation", rotated.Add(delay+patience), func() error {
		after = login()
		if kid := tokens.KeyID(t, after.AccessToken); kid != newKid {
			time.Sleep(100 * time.Millisecond)
			return fmt.Errorf("signed with %s", kid)
		}
		return nil
	})
	for name, tok := range map[string]string{"old": before.AccessToken, "new": after.AccessToken} {
		if _, err := client.Verify(ctx, &authv1.VerifyRequest{Token: tok}); err != nil {
			t.Errorf("authd refuses the %s key's token: %v", name, err)
		}
		if _, err := consumer.Verify(ctx, tok); err != nil {
			t.Errorf("the consumer refuses the %s key's token: %v", name, err)
		}
	}
	out, _, _ = authd(t, data, "", "keys", "list")
	if !regexp.MustCompile(regexp.QuoteMeta(newKid)+`.*current`).MatchString(out) || !regexp.MustCompile(regexp.QuoteMeta(oldKid)+`.*verify-only until`).MatchString(out) {
		t.Fatalf("keys list after the activation:\n%s", out)
	}
}

// keys list shows a next key as published, with when it signs from.
func TestE2E_KeysListShowsTheNextKey(t *testing.T) {
	t.Parallel()
	data := t.TempDir()
	if _, errOut, code := authd(t, data, "", "keys", "list"); code != 0 {
		t.Fatal(errOut)
	}
	out, errOut, code := authd(t, data, "", "keys", "rotate")
	if code != 0 {
		t.Fatal(errOut)
	}
	m := regexp.MustCompile(`new signing key (\S+) is next: .* from (\S+) \(in 20m0s\)`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("keys rotate said:\n%s", out)
	}
	out, _, _ = authd(t, data, "", "keys", "list")
	if !regexp.MustCompile(regexp.QuoteMeta(m[1]) + `\s+EdDSA\s+\S+\s+` + regexp.QuoteMeta(m[2]) + `\s+next: published, signs from ` + regexp.QuoteMeta(m[2])).MatchString(out) {
		t.Fatalf("keys list does not show %s as next, signing from %s:\n%s", m[1], m[2], out)
	}
	if strings.Count(out, " current") != 1 {
		t.Fatalf("keys list: want the old key current still:\n%s", out)
	}
	if _, errOut, code := authd(t, data, "", "keys", "list", "--now"); code != 2 || !strings.Contains(errOut, "--now applies to keys rotate") {
		t.Fatalf("keys list --now: exit %d, %s", code, errOut)
	}
	if _, errOut, code := authd(t, data, "", "keys", "rotate", "--key-propagation-delay", "-1s"); code != 2 {
		t.Fatalf("a negative delay: exit %d, %s", code, errOut)
	}
	out, _, _ = authd(t, data, "", "keys", "rotate", "--now")
	if !regexp.MustCompile(`new signing key \S+ is current`).MatchString(out) {
		t.Fatalf("keys rotate --now said:\n%s", out)
	}
}
