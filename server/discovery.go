package server

import (
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"net/url"
	"strings"
)

// parsePublicURL checks that v is an absolute http or https URL with a host
// and nothing after its path, and returns it without a trailing slash.
func parsePublicURL(v string) (string, error) {
	if v == "" {
		return "", nil
	}
	u, err := url.Parse(v)
	switch {
	case err != nil:
		return "", err
	case u.Scheme != "http" && u.Scheme != "https":
		return "", errors.New("want an http:// or https:// URL")
	case u.Host == "":
		return "", errors.New("no host")
	case u.User != nil || u.RawQuery != "" || u.ForceQuery || u.Fragment != "":
		return "", errors.New("want scheme, host and path only (no user, query or fragment)")
	}
	return strings.TrimSuffix(u.String(), "/"), nil
}

// discoveryDocument is the subset of OpenID Connect Discovery 1.0
// (section 3) that describes how authd's tokens are verified. authd has no
// OAuth authorization or token endpoint (tokens come from the gRPC
// AuthService), so the document names none, and no response types; clients
// authenticate with a secret, not a signed JWT, so
// token_endpoint_auth_signing_alg_values_supported does not apply.
type discoveryDocument struct {
	Issuer                           string   `json:"issuer"`
	JWKSURI                          string   `json:"jwks_uri"`
	ResponseTypesSupported           []string `json:"response_types_supported"`
	SubjectTypesSupported            []string `json:"subject_types_supported"`
	IDTokenSigningAlgValuesSupported []string `json:"id_token_signing_alg_values_supported"`
	ClaimsSupported                  []string `json:"claims_supported"`
}

// discovery serves GET /.well-known/openid-configuration: issuer as
// --issuer, jwks_uri under --public-url (or the request's scheme and Host),
// and alg, the one algorithm authd signs with (EdDSA; HS256 with
// --hs256-secret-file, whose JWKS then holds no keys).
func discovery(issuer, publicURL, alg string) http.Handler {
	publicURL, _ = parsePublicURL(publicURL) // checked by Validate
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		base := publicURL
		if base == "" {
			scheme := "http"
			if r.TLS != nil {
				scheme = "https"
			}
			host := r.Host
			if host == "" { // HTTP/1.0 without Host: the address it reached
				if addr, ok := r.Context().Value(http.LocalAddrContextKey).(net.Addr); ok {
					host = addr.String()
				}
			}
			base = scheme + "://" + host
		}
		doc := discoveryDocument{
			Issuer:                           issuer,
			JWKSURI:                          base + "/.well-known/jwks.json",
			ResponseTypesSupported:           []string{},
			SubjectTypesSupported:            []string{"public"},
			IDTokenSigningAlgValuesSupported: []string{alg},
			ClaimsSupported:                  []string{"iss", "sub", "aud", "exp", "nbf", "iat", "jti", "type", "fresh", "sid", "auth_time", "roles", "scope"},
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "public, max-age=300")
		_ = json.NewEncoder(w).Encode(doc)
	})
}
