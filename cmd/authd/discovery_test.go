package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"

	authv1 "github.com/authd-dev/authd/gen/auth/v1"
)

// discoveryDoc is what GET /.well-known/openid-configuration answers;
// pointers tell a missing field from an empty one.
type discoveryDoc struct {
	Issuer                           string    `json:"issuer"`
	JWKSURI                          string    `json:"jwks_uri"`
	ResponseTypesSupported           *[]string `json:"response_types_supported"`
	SubjectTypesSupported            []string  `json:"subject_types_supported"`
	IDTokenSigningAlgValuesSupported []string  `json:"id_token_signing_alg_values_supported"`
	ClaimsSupported                  []string  `json:"claims_supported"`
}

// getJSON GETs url with client and decodes its JSON body into v, checking
// the status, content type and caching headers every well-known document
// of authd's has.
func getJSON(t *testing.T, client *http.Client, url string, v any) {
	t.Helper()
	resp, err := client.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s", url, resp.Status)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("GET %s: Content-Type %q", url, ct)
	}
	if cc := resp.Header.Get("Cache-Control"); cc != "public, max-age=300" {
		t.Errorf("GET %s: Cache-Control %q, want the JWKS's", url, cc)
	}
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
}

type jwkSet struct {
	Keys []struct{ Kid, Kty, Crv, Alg, Use string } `json:"keys"`
}

// The discovery document names --issuer, the algorithm authd signs with,
// and a jwks_uri that serves the keys: under --public-url when it is set,
// else at the scheme and Host the request came with (HTTPS with
// --tls-cert).
func TestE2E_DiscoveryDocument(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
	ca := newCA(t, "discovery")
	c, k := ca.issue(t, false)
	writeFile(t, certFile, c)
	writeFile(t, keyFile, k)
	https := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: ca.pool, MinVersion: tls.VersionTLS12}}}
	secret := filepath.Join(dir, "hs256")
	writeFile(t, secret, []byte(strings.Repeat("s", 32)))

	for _, tc := range []struct {
		name    string
		args    []string
		client  *http.Client
		scheme  string
		jwksURI func(httpAddr string) string // want
		alg     string
		keys    int
	}{
		{"plaintext, URL from Host", nil, http.DefaultClient, "http",
			func(a string) string { return "http://" + a + "/.well-known/jwks.json" }, "EdDSA", 1},
		{"TLS, URL from Host", []string{"--tls-cert", certFile, "--tls-key", keyFile}, https, "https",
			func(a string) string { return "https://" + a + "/.well-known/jwks.json" }, "EdDSA", 1},
		// Behind a TLS-terminating proxy that adds a path prefix; the
		// test calls the listener itself, and checks the document.
		{"--public-url", []string{"--public-url", "https://auth.example.test/idp/"}, http.DefaultClient, "http",
			func(string) string { return "https://auth.example.test/idp/.well-known/jwks.json" }, "EdDSA", 1},
		{"HS256: no keys", []string{"--hs256-secret-file", secret}, http.DefaultClient, "http",
			func(a string) string { return "http://" + a + "/.well-known/jwks.json" }, "HS256", 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			args := append([]string{"--http-addr", "127.0.0.1:0", "--issuer", "https://issuer.example.test"}, tc.args...)
			srv := startServe(t, t.TempDir(), nil, args...)
			base := tc.scheme + "://" + srv.httpAddr
			var doc discoveryDoc
			getJSON(t, tc.client, base+"/.well-known/openid-configuration", &doc)
			if doc.Issuer != "https://issuer.example.test" {
				t.Errorf("issuer %q, want --issuer", doc.Issuer)
			}
			if want := tc.jwksURI(srv.httpAddr); doc.JWKSURI != want {
				t.Errorf("jwks_uri %q, want %q", doc.JWKSURI, want)
			}
			if !slices.Equal(doc.IDTokenSigningAlgValuesSupported, []string{tc.alg}) {
				t.Errorf("id_token_signing_alg_values_supported %q, want [%s]", doc.IDTokenSigningAlgValuesSupported, tc.alg)
			}
			if !slices.Equal(doc.SubjectTypesSupported, []string{"public"}) {
				t.Errorf("subject_types_supported %q, want [public]", doc.SubjectTypesSupported)
			}
			if doc.ResponseTypesSupported == nil {
				t.Error("response_types_supported is missing (OIDC Discovery requires it)")
			}
			if !slices.Contains(doc.ClaimsSupported, "type") {
				t.Errorf("claims_supported %q lacks type, the claim that tells access from refresh tokens", doc.ClaimsSupported)
			}
			// jwks_uri is reachable: on this listener, or under
			// --public-url at the same path.
			jwksURL := doc.JWKSURI
			if !strings.HasPrefix(jwksURL, base+"/") {
				jwksURL = base + "/.well-known/jwks.json"
			}
			var set jwkSet
			getJSON(t, tc.client, jwksURL, &set)
			if len(set.Keys) != tc.keys {
				t.Fatalf("JWKS at %s has %d keys, want %d: %+v", jwksURL, len(set.Keys), tc.keys, set.Keys)
			}
			for _, key := range set.Keys {
				if key.Kty != "OKP" || key.Crv != "Ed25519" || key.Alg != tc.alg || key.Use != "sig" || key.Kid == "" {
					t.Errorf("JWK %+v", key)
				}
			}
		})
	}
}

func TestE2E_DiscoveryRefusesABadPublicURL(t *testing.T) {
	t.Parallel()
	for _, bad := range []string{"ftp://auth.example.test", "auth.example.test", "https://", "https://auth.example.test/?x=1", "https://auth.example.test/#top", "https://u:p@auth.example.test"} {
		_, errOut, code := authd(t, t.TempDir(), "", "serve", "--addr", "127.0.0.1:0", "--public-url", bad)
		if code != 2 || !strings.Contains(errOut, "public-url") {
			t.Errorf("--public-url %q: exit %d, stderr %q; want exit 2 naming the flag", bad, code, errOut)
		}
	}
}

// joseDir holds the Node verifier: package.json, the lock file pinning
// jose, verify.mjs, and node_modules once `npm ci` ran there.
var joseDir = filepath.Join("..", "..", "e2e", "jose")

// nodeWithJose returns the node binary, or skips the test when node or the
// pinned jose is not installed; under CI it fails instead, since .ci/run
// installs both.
func nodeWithJose(t *testing.T) string {
	t.Helper()
	missing := func(format string, args ...any) {
		t.Helper()
		if os.Getenv("CI") != "" {
			t.Fatalf(format+" (.ci/run installs it: npm ci --prefix e2e/jose)", args...)
		}
		t.Skipf("skipped: "+format+"; run `npm ci --prefix e2e/jose` to verify authd's tokens with Node's jose", args...)
	}
	node, err := exec.LookPath("node")
	if err != nil {
		missing("node is not installed: %v", err)
	}
	var lock struct {
		Packages map[string]struct{ Version string } `json:"packages"`
	}
	if b, err := os.ReadFile(filepath.Join(joseDir, "package-lock.json")); err != nil || json.Unmarshal(b, &lock) != nil {
		t.Fatalf("e2e/jose/package-lock.json: %v", err)
	}
	want := lock.Packages["node_modules/jose"].Version
	var installed struct{ Version string }
	b, err := os.ReadFile(filepath.Join(joseDir, "node_modules", "jose", "package.json"))
	if err != nil {
		missing("jose is not installed in e2e/jose: %v", err)
	}
	if err := json.Unmarshal(b, &installed); err != nil || want == "" || installed.Version != want {
		missing("e2e/jose/node_modules has jose %q, the lock file pins %q (%v)", installed.Version, want, err)
	}
	return node
}

// joseResult is verify.mjs's answer for one token.
type joseResult struct {
	Claims map[string]any `json:"claims"`
	Error  string         `json:"error"`
	Code   string         `json:"code"`
}

// runJose runs verify.mjs against the discovery document at url with the
// named tokens, and returns the document and the verdicts it printed.
func runJose(t *testing.T, node, url string, env []string, tokens map[string]string) (discoveryDoc, map[string]joseResult) {
	t.Helper()
	in, _ := json.Marshal(tokens)
	ctx, cancel := context.WithTimeout(context.Background(), patience)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, filepath.Join(joseDir, "verify.mjs"))
	cmd.Env = append(append(os.Environ(), "AUTHD_DISCOVERY_URL="+url), env...)
	cmd.Stdin = bytes.NewReader(in)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("node verify.mjs %s: %v\nstdout: %s\nstderr: %s", url, err, &stdout, &stderr)
	}
	var out struct {
		Discovery discoveryDoc          `json:"discovery"`
		Results   map[string]joseResult `json:"results"`
	}
	if err := json.Unmarshal(stdout.Bytes(), &out); err != nil {
		t.Fatalf("node verify.mjs printed %q: %v (stderr %s)", &stdout, err, &stderr)
	}
	if len(out.Results) != len(tokens) {
		t.Fatalf("verify.mjs answered for %d tokens, want %d: %s", len(out.Results), len(tokens), &stdout)
	}
	return out.Discovery, out.Results
}

// tamper returns tok with its payload's sub replaced, signature kept.
func tamper(t *testing.T, tok string) string {
	t.Helper()
	parts := strings.Split(tok, ".")
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var claims map[string]any
	if err := json.Unmarshal(payload, &claims); err != nil {
		t.Fatal(err)
	}
	claims["sub"] = "mallory"
	payload, _ = json.Marshal(claims)
	parts[1] = base64.RawURLEncoding.EncodeToString(payload)
	return strings.Join(parts, ".")
}

// A verifier that is not ours — Node's jose, pinned in
// e2e/jose/package-lock.json — finds authd's keys through the discovery
// document alone (over HTTP and HTTPS), accepts an access token, and
// refuses, as docs/api.md's snippet does, a refresh token by its type claim, a
// tampered token, a token for another audience signed with authd's key, and
// one signed by another authd's key.
func TestE2E_JoseVerifiesThroughDiscovery(t *testing.T) {
	t.Parallel()
	node := nodeWithJose(t)
	data, dir := t.TempDir(), t.TempDir()
	certFile, keyFile, caFile := filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key"), filepath.Join(dir, "ca.pem")
	ca := newCA(t, "jose")
	c, k := ca.issue(t, false)
	writeFile(t, certFile, c)
	writeFile(t, keyFile, k)
	writeFile(t, caFile, ca.pem)
	if _, errOut, code := authd(t, data, "violet tangerine 42\n", "user", "add", "dana", "--password-stdin"); code != 0 {
		t.Fatalf("user add: exit %d: %s", code, errOut)
	}
	other := t.TempDir()
	if _, errOut, code := authd(t, other, "violet tangerine 42\n", "user", "add", "dana", "--password-stdin"); code != 0 {
		t.Fatalf("user add: exit %d: %s", code, errOut)
	}

	plain := startServe(t, data, nil, "--http-addr", "127.0.0.1:0")
	// The same keys (the same data dir) over HTTPS, minting for another
	// audience.
	secure := startServe(t, data, nil, "--http-addr", "127.0.0.1:0", "--audience", "elsewhere",
		"--tls-cert", certFile, "--tls-key", keyFile)
	foreign := startServe(t, other, nil)

	login := func(addr string, opt grpc.DialOption) *authv1.LoginResponse {
		t.Helper()
		conn, err := grpc.NewClient(addr, opt)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		resp, err := authv1.NewAuthServiceClient(conn).Login(context.Background(), &authv1.LoginRequest{Username: "dana", Password: "violet tangerine 42"})
		if err != nil {
			t.Fatalf("login at %s: %v", addr, err)
		}
		return resp
	}
	own := login(plain.addr, dialInsecure)
	elsewhere := login(secure.addr, grpc.WithTransportCredentials(credentials.NewTLS(&tls.Config{RootCAs: ca.pool, MinVersion: tls.VersionTLS12})))
	stranger := login(foreign.addr, dialInsecure)
	tokens := map[string]string{
		"access":      own.AccessToken,
		"refresh":     own.RefreshToken,
		"tampered":    tamper(t, own.AccessToken),
		"audience":    elsewhere.AccessToken,
		"foreign key": stranger.AccessToken,
	}

	for _, tc := range []struct {
		name, base string
		env        []string
	}{
		{"http", "http://" + plain.httpAddr, nil},
		{"https", "https://" + secure.httpAddr, []string{"NODE_EXTRA_CA_CERTS=" + caFile}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			doc, got := runJose(t, node, tc.base+"/.well-known/openid-configuration", tc.env, tokens)
			if doc.Issuer != "authd" || doc.JWKSURI != tc.base+"/.well-known/jwks.json" {
				t.Errorf("jose read issuer %q, jwks_uri %q", doc.Issuer, doc.JWKSURI)
			}
			if r := got["access"]; r.Error != "" || r.Claims["sub"] != "dana" || r.Claims["type"] != "access" || r.Claims["iss"] != "authd" {
				t.Errorf("access token: %+v, want dana's claims", r)
			}
			// Its signature, issuer and audience pass: only the type refuses it.
			if r := got["refresh"]; r.Claims != nil || r.Error != `not an access token: type "refresh"` {
				t.Errorf("refresh token: %+v, want refused by its type", r)
			}
			for name, code := range map[string]string{
				"tampered":    "ERR_JWS_SIGNATURE_VERIFICATION_FAILED",
				"audience":    "ERR_JWT_CLAIM_VALIDATION_FAILED",
				"foreign key": "ERR_JWKS_NO_MATCHING_KEY",
			} {
				if r := got[name]; r.Claims != nil || r.Code != code {
					t.Errorf("%s token: %+v, want refused with %s", name, r, code)
				}
			}
		})
	}
}

var dialInsecure = grpc.WithTransportCredentials(insecure.NewCredentials())

// The jose snippet of docs/api.md ("Verifying without Go") is verify.mjs's
// (between its "// README: begin" and "// README: end" markers), which the
// test above runs: the documentation cannot drift from code that verifies.
func TestREADME_JoseSnippetIsTheTestedOne(t *testing.T) {
	script, err := os.ReadFile(filepath.Join(joseDir, "verify.mjs"))
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(script), "// README: begin\n")
	snippet, _, ok2 := strings.Cut(rest, "// README: end\n")
	if !ok || !ok2 || snippet == "" {
		t.Fatal("verify.mjs lost its // README: begin / end markers")
	}
	doc, err := os.ReadFile(filepath.Join("..", "..", "docs", "api.md"))
	if err != nil {
		t.Fatal(err)
	}
	want := "```js\n" + `import { createRemoteJWKSet, jwtVerify } from "jose";` + "\n\n" + snippet + "```\n"
	if !strings.Contains(string(doc), want) {
		t.Errorf("docs/api.md does not show verify.mjs's snippet; want it to contain:\n%s", want)
	}
}
