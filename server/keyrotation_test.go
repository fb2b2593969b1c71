package server_test

import (
	"bytes"
	"context"
	"log/slog"
	"net"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/authd-dev/authd/authdtest/tokens"
	"github.com/authd-dev/authd/clock"
	authv1 "github.com/authd-dev/authd/gen/auth/v1"
	"github.com/authd-dev/authd/jwks"
	"github.com/authd-dev/authd/keys"
	"github.com/authd-dev/authd/password"
	"github.com/authd-dev/authd/server"
	"github.com/authd-dev/authd/store/sqlite"
)

// The default propagation delay covers every way a key reaches a
// verifier: an instance's reload, the JWKS's HTTP max-age (5 minutes) on
// the way, a consumer's cache.
func TestDefaultPropagationDelayExceedsWhatAKeyTakesToReachConsumers(t *testing.T) {
	const httpMaxAge = 5 * time.Minute // server/http.go's Cache-Control on the JWKS
	if reach := server.DefaultKeyReloadInterval + httpMaxAge + jwks.DefaultCacheTTL; keys.DefaultPropagationDelay <= reach {
		t.Fatalf("keys.DefaultPropagationDelay %s does not exceed %s (reload + max-age + consumer cache)", keys.DefaultPropagationDelay, reach)
	}
}

// Two instances on one store and one key directory, on a fake clock: a
// rotated key is published by both at their next reload, neither signs
// with it before its activation, and both sign with it from that instant,
// with no reload in between.
func TestServer_InstancesPublishTheNextKeyAndSwitchAtItsActivation(t *testing.T) {
	ctx := t.Context()
	data := t.TempDir()
	clk := clock.NewFake(time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC))
	st, err := sqlite.Open(ctx, filepath.Join(data, "authd.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	hasher, err := password.NewHasher(tokens.CheapParams, 2)
	if err != nil {
		t.Fatal(err)
	}
	hash, err := hasher.Hash(ctx, "long enough pw")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.CreateUser(ctx, "ada", hash, clk.Now()); err != nil {
		t.Fatal(err)
	}
	var logs syncBuffer
	start := func() authv1.AuthServiceClient {
		t.Helper()
		cfg := server.Defaults()
		cfg.DataDir, cfg.Store, cfg.Clock, cfg.Hash, cfg.HashConcurrency = data, st, clk, tokens.CheapParams, 2
		cfg.Logger = slog.New(slog.NewTextHandler(&logs, nil))
		srv, err := server.New(ctx, cfg)
		if err != nil {
			t.Fatal(err)
		}
		lis, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		done := make(chan struct{})
		go func() { defer close(done); srv.Serve(ctx, server.Listeners{GRPC: lis}) }()
		t.Cleanup(func() { srv.Shutdown(context.Background()); <-done; srv.Close() })
		conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { conn.Close() })
		return authv1.NewAuthServiceClient(conn)
	}
	instances := []authv1.AuthServiceClient{start(), start()}
	signer := func(c authv1.AuthServiceClient) string {
		t.Helper()
		login, err := c.Login(ctx, &authv1.LoginRequest{Username: "ada", Password: "long enough pw"})
		if err != nil {
			t.Fatal(err)
		}
		return tokens.KeyID(t, login.AccessToken)
	}
	published := func(c authv1.AuthServiceClient) []string {
		t.Helper()
		set, err := c.GetJWKS(ctx, &authv1.GetJWKSRequest{})
		if err != nil {
			t.Fatal(err)
		}
		var kids []string
		for _, k := range set.Keys {
			kids = append(kids, k.Kid)
		}
		return kids
	}
	old := signer(instances[0])

	// `authd keys rotate`, another process, before the instances' first
	// reload.
	clk.Advance(server.DefaultKeyReloadInterval / 2)
	next, err := keys.NewManager(keys.Dir(filepath.Join(data, "keys")), keys.WithClock(clk)).Rotate(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got := published(instances[0]); len(got) != 1 {
		t.Fatalf("before a reload the instance publishes %v, want the old key alone", got)
	}
	clk.Advance(server.DefaultKeyReloadInterval / 2) // each instance's maintenance reload
	for i, c := range instances {
		deadline := time.Now().Add(10 * time.Second)
		for len(published(c)) != 2 {
			if time.Now().After(deadline) {
				t.Fatalf("instance %d publishes %v after its reload, want the next key %s too", i, published(c), next.ID)
			}
			time.Sleep(5 * time.Millisecond)
		}
		if kid := signer(c); kid != old {
			t.Fatalf("instance %d signs with %s after publishing the next key, want %s until its activation", i, kid, old)
		}
	}
	if !strings.Contains(logs.String(), "next_kid="+next.ID) {
		t.Errorf("no reload logged the next key:\n%s", logs.String())
	}
	clk.Advance(next.Activates.Sub(clk.Now()) - time.Nanosecond)
	for i, c := range instances {
		if kid := signer(c); kid != old {
			t.Fatalf("instance %d signs with %s a nanosecond before the activation, want %s", i, kid, old)
		}
	}
	clk.Advance(time.Nanosecond)
	for i, c := range instances {
		if kid := signer(c); kid != next.ID {
			t.Fatalf("instance %d signs with %s at the activation, want %s", i, kid, next.ID)
		}
	}
	// The next reload of each reports the switch.
	clk.Advance(server.DefaultKeyReloadInterval)
	for deadline := time.Now().Add(10 * time.Second); strings.Count(logs.String(), "signing with the next key") < 2; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the instances' reloads after the activation did not both report it:\n%s", logs.String())
		}
	}
}

// syncBuffer is a bytes.Buffer safe for concurrent use.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
