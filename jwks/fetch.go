package jwks

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"

	"google.golang.org/grpc"

	authv1 "github.com/authd-dev/authd/gen/auth/v1"
	"github.com/authd-dev/authd/token"
)

// Fetcher fetches authd's public keys.
type Fetcher interface {
	FetchKeys(ctx context.Context) ([]token.JWK, error)
}

// FetcherFunc adapts a function to Fetcher.
type FetcherFunc func(ctx context.Context) ([]token.JWK, error)

// FetchKeys calls f.
func (f FetcherFunc) FetchKeys(ctx context.Context) ([]token.JWK, error) { return f(ctx) }

// GRPC fetches keys with AuthService.GetJWKS over conn.
func GRPC(conn grpc.ClientConnInterface) Fetcher {
	client := authv1.NewAuthServiceClient(conn)
	return FetcherFunc(func(ctx context.Context) ([]token.JWK, error) {
		resp, err := client.GetJWKS(ctx, &authv1.GetJWKSRequest{})
		if err != nil {
			return nil, err
		}
		keys := make([]token.JWK, 0, len(resp.GetKeys()))
		for _, k := range resp.GetKeys() {
			keys = append(keys, token.JWK{Kty: k.Kty, Crv: k.Crv, X: k.X, Kid: k.Kid, Alg: k.Alg, Use: k.Use})
		}
		return keys, nil
	})
}

// maxBody bounds what HTTP reads.
const maxBody = 1 << 20

// HTTP fetches keys from a JWKS URL (authd's /.well-known/jwks.json).
// client nil means http.DefaultClient.
func HTTP(url string, client *http.Client) Fetcher {
	if client == nil {
		client = http.DefaultClient
	}
	return FetcherFunc(func(ctx context.Context) ([]token.JWK, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return nil, err
		}
		resp, err := client.Do(req)
		if err != nil {
			return nil, err
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return nil, fmt.Errorf("jwks: %s", resp.Status)
		}
		var set struct {
			Keys []token.JWK `json:"keys"`
		}
		if err := json.NewDecoder(io.LimitReader(resp.Body, maxBody)).Decode(&set); err != nil {
			return nil, fmt.Errorf("jwks: %w", err)
		}
		return set.Keys, nil
	})
}
