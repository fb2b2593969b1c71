package server

import (
	"encoding/json"
	"errors"
	"fmt"
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

// discovery serves GET /.well-known/openid-configuration. With a public
// URL the document is fixed at start: issuer, which OpenID Connect
// Discovery 1.0 (section 4.3) and RFC 8414 (section 3.3) require to be the
// URL the document is fetched under, jwks_uri under it, and alg, the one
// algorithm authd signs with (EdDSA; HS256 with --hs256-secret-file, whose
// JWKS then holds no keys). Nothing of it comes from the request: a
// document built from the Host header could be cached by a shared cache
// and point every verifier at another key set.
//
// Without a public URL authd cannot know the URL it is reached at, so it
// serves no document: 404, saying why. The JWKS is served either way.
func discovery(issuer, publicURL, alg string) http.Handler {
	publicURL, _ = parsePublicURL(publicURL) // checked by Validate
	if publicURL == "" {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			http.Error(w, "no discovery document: authd serves one only with --public-url, the URL it is reached at "+
				"(which is then its issuer); the keys are at /.well-known/jwks.json", http.StatusNotFound)
		})
	}
	doc, err := json.Marshal(discoveryDocument{
		Issuer:                           issuer,
		JWKSURI:                          publicURL + "/.well-known/jwks.json",
		ResponseTypesSupported:           []string{},
		SubjectTypesSupported:            []string{"public"},
		IDTokenSigningAlgValuesSupported: []string{alg},
		ClaimsSupported:                  []string{"iss", "sub", "aud", "exp", "nbf", "iat", "jti", "type", "fresh", "sid", "auth_time", "roles", "scope"},
	})
	if err != nil {
		panic(err) // strings only: always marshals
	}
	doc = append(doc, '\n')
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "public, max-age=300")
		_, _ = w.Write(doc)
	})
}

// issuerOf is the issuer of a configuration: Issuer, or, when it is empty,
// the public URL.
func (c Config) issuerOf() string {
	if c.Issuer == "" {
		u, _ := parsePublicURL(c.PublicURL)
		return u
	}
	return c.Issuer
}

// checkIssuer refuses an issuer that contradicts the public URL: with one,
// the issuer must be that URL (a trailing slash aside), since standard
// clients fetch <issuer>/.well-known/openid-configuration and refuse a
// document naming another issuer.
func (c Config) checkIssuer() error {
	u, err := parsePublicURL(c.PublicURL)
	switch {
	case err != nil:
		return fmt.Errorf("--public-url: %v", err)
	case u == "" && c.Issuer == "":
		return errors.New("issuer and audience must not be empty")
	case u != "" && c.Issuer != "" && strings.TrimSuffix(c.Issuer, "/") != u:
		return fmt.Errorf("--issuer %q contradicts --public-url %q: the issuer of a discovery document is the URL it is served under "+
			"(OpenID Connect Discovery, RFC 8414); leave --issuer unset (it is then the public URL) or set them alike", c.Issuer, u)
	}
	return nil
}
