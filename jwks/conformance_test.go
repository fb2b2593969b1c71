package jwks_test

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/authd-dev/authd/authdtest/tokens"
	"github.com/authd-dev/authd/clock"
	"github.com/authd-dev/authd/internal/authdenv"
	"github.com/authd-dev/authd/internal/keysourcetest"
	"github.com/authd-dev/authd/jwks"
	"github.com/authd-dev/authd/keys"
	"github.com/authd-dev/authd/token"
)

// sourceCooldown is the Source's refetch cooldown in the suite: the
// default.
const sourceCooldown = jwks.DefaultCooldown

// The Source over gRPC: the origin is a running authd, whose GetJWKS
// publishes its keyring; a rotation replaces the keyring's keys.
func TestConformance_GRPC(t *testing.T) {
	keysourcetest.Run(t, func(t *testing.T) keysourcetest.Subject {
		e := authdenv.New(t)
		var fetches atomic.Int64
		fetch := jwks.GRPC(e.Conn)
		src := jwks.New(jwks.FetcherFunc(func(ctx context.Context) ([]token.JWK, error) {
			fetches.Add(1)
			return fetch.FetchKeys(ctx)
		}), jwks.Config{Clock: e.Clock, Cooldown: sourceCooldown})
		return keysourcetest.Subject{
			Source:   src,
			Clock:    e.Clock,
			Cooldown: sourceCooldown,
			Rotate:   func(t *testing.T) { addKey(t, e.Keys, e.Clock.Now()) },
			Mint: func(t *testing.T, c token.Claims) string {
				raw, err := e.Signer.Sign(c)
				if err != nil {
					t.Fatal(err)
				}
				return raw
			},
			Loads: func() int { return int(fetches.Load()) },
		}
	})
}

// The Source over HTTP: the origin is a JWKS document on a loopback web
// server, counting the requests it serves.
func TestConformance_HTTP(t *testing.T) {
	keysourcetest.Run(t, func(t *testing.T) keysourcetest.Subject {
		clk := clock.NewFake(tokens.Start)
		first, err := keys.NewKey(clk.Now())
		if err != nil {
			t.Fatal(err)
		}
		ring, err := keys.NewKeyring(first)
		if err != nil {
			t.Fatal(err)
		}
		signer, err := keys.NewSigner(ring, token.DefaultIssuer, []string{token.DefaultIssuer})
		if err != nil {
			t.Fatal(err)
		}
		var requests atomic.Int64
		web := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			requests.Add(1)
			if r.URL.Path != "/.well-known/jwks.json" {
				http.NotFound(w, r)
				return
			}
			w.Header().Set("Content-Type", "application/json")
			_ = json.NewEncoder(w).Encode(map[string]any{"keys": ring.JWKS()})
		}))
		lis, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		web.Listener = lis
		web.Start()
		t.Cleanup(web.Close)
		src := jwks.New(jwks.HTTP(web.URL+"/.well-known/jwks.json", web.Client()),
			jwks.Config{Clock: clk, Cooldown: sourceCooldown})
		return keysourcetest.Subject{
			Source:   src,
			Clock:    clk,
			Cooldown: sourceCooldown,
			Rotate:   func(t *testing.T) { addKey(t, ring, clk.Now()) },
			Mint: func(t *testing.T, c token.Claims) string {
				raw, err := signer.Sign(c)
				if err != nil {
					t.Fatal(err)
				}
				return raw
			},
			Loads: func() int { return int(requests.Load()) },
		}
	})
}

// addKey adds a new key, created at now, to ring: it becomes current, and
// the keys before it stay published.
func addKey(t *testing.T, ring *keys.Keyring, now time.Time) {
	t.Helper()
	key, err := keys.NewKey(now)
	if err != nil {
		t.Fatal(err)
	}
	if err := ring.Replace(append(ring.Keys(), key)...); err != nil {
		t.Fatal(err)
	}
}
