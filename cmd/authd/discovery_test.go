package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/base64"
	"encoding/json"
	"io"
	"net"
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

// freeAddr returns a loopback address with a port free a moment ago: for
// an HTTP listener whose URL must be known before authd starts
// (--public-url).
func freeAddr(t *testing.T) string {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer lis.Close()
	return lis.Addr().String()
}

// With --public-url the discovery document is that URL's: its issuer is
// the URL (OpenID Connect Discovery and RFC 8414 require it to be the URL
// the document is fetched under), jwks_uri is under it, and nothing of it
// comes from the request, whatever Host it names; it carries the algorithm
// authd signs with.
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
		name      string
		args      []string
		client    *http.Client
		scheme    string
		publicURL string // "": the listener's own URL
		alg       string
		keys      int
	}{
		{"plaintext", nil, http.DefaultClient, "http", "", "EdDSA", 1},
		{"TLS", []string{"--tls-cert", certFile, "--tls-key", keyFile}, https, "https", "", "EdDSA", 1},
		// Behind a TLS-terminating proxy that adds a path prefix; the
		// test calls the listener itself, and checks the document.
		{"behind a proxy", nil, http.DefaultClient, "http", "https://auth.example.test/idp", "EdDSA", 1},
		{"--issuer set alike", []string{"--issuer", "https://auth.example.test/idp/"}, http.DefaultClient, "http", "https://auth.example.test/idp/", "EdDSA", 1},
		{"HS256: no keys", []string{"--hs256-secret-file", secret}, http.DefaultClient, "http", "", "HS256", 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			addr := freeAddr(t)
			base := tc.scheme + "://" + addr
			public := tc.publicURL
			if public == "" {
				public = base
			}
			args := append([]string{"--http-addr", addr, "--public-url", public}, tc.args...)
			srv := startServe(t, t.TempDir(), nil, args...)
			wantIssuer := public
			if !slices.Contains(tc.args, "--issuer") {
				wantIssuer = strings.TrimSuffix(public, "/")
			}
			if !strings.Contains(srv.log.String(), "issuer="+wantIssuer) {
				t.Errorf("the serving line does not name issuer %s:\n%s", wantIssuer, srv.log)
			}
			var doc discoveryDoc
			getJSON(t, tc.client, base+"/.well-known/openid-configuration", &doc)
			if doc.Issuer != wantIssuer {
				t.Errorf("issuer %q, want %q", doc.Issuer, wantIssuer)
			}
			if want := strings.TrimSuffix(public, "/") + "/.well-known/jwks.json"; doc.JWKSURI != want {
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
			// A request naming another Host gets the same document: a
			// shared cache cannot be taught another jwks_uri.
			req, err := http.NewRequest(http.MethodGet, base+"/.well-known/openid-configuration", nil)
			if err != nil {
				t.Fatal(err)
			}
			req.Host = "evil.example.test"
			resp, err := tc.client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			var spoofed discoveryDoc
			err = json.NewDecoder(resp.Body).Decode(&spoofed)
			resp.Body.Close()
			if err != nil || spoofed.Issuer != doc.Issuer || spoofed.JWKSURI != doc.JWKSURI {
				t.Errorf("with Host evil.example.test: %+v, %v; want the same document", spoofed, err)
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

// Without --public-url authd cannot know the URL it is reached at, and
// takes none from a request: no discovery document (404, saying why),
// whatever Host the request names; the JWKS is still served, and tokens
// keep the issuer authd.
func TestE2E_NoDiscoveryWithoutAPublicURL(t *testing.T) {
	t.Parallel()
	srv := startServe(t, t.TempDir(), nil, "--http-addr", "127.0.0.1:0")
	req, err := http.NewRequest(http.MethodGet, "http://"+srv.httpAddr+"/.well-known/openid-configuration", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Host = "evil.example.test"
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound || !strings.Contains(string(body), "--public-url") || strings.Contains(string(body), "evil") {
		t.Errorf("discovery without --public-url: %d %q; want 404 naming --public-url", resp.StatusCode, body)
	}
	var set jwkSet
	getJSON(t, http.DefaultClient, "http://"+srv.httpAddr+"/.well-known/jwks.json", &set)
	if len(set.Keys) != 1 {
		t.Errorf("JWKS: %+v", set)
	}
	if !strings.Contains(srv.log.String(), "issuer=authd") {
		t.Errorf("the serving line does not name issuer authd:\n%s", srv.log)
	}
}

// --issuer and --public-url that disagree are refused at start: a
// discovery document whose issuer is not its URL is refused by standard
// clients, and tokens whose iss is not the document's by every verifier.
func TestE2E_IssuerContradictingThePublicURLIsRefused(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{
		{"--public-url", "https://auth.example.test", "--issuer", "authd"},
		{"--public-url", "https://auth.example.test", "--issuer", "https://other.example.test"},
	} {
		_, errOut, code := authd(t, t.TempDir(), "", append([]string{"serve", "--addr", "127.0.0.1:0"}, args...)...)
		if code != 2 || !strings.Contains(errOut, "--issuer") || !strings.Contains(errOut, "--public-url") {
			t.Errorf("serve %v: exit %d, %q; want exit 2 naming both flags", args, code, errOut)
		}
	}
	// From the environment too.
	_, errOut, code := authdWith(t, []string{"AUTHD_ISSUER=authd", "AUTHD_PUBLIC_URL=https://auth.example.test"}, t.TempDir(), "", "serve", "--addr", "127.0.0.1:0")
	if code != 2 || !strings.Contains(errOut, "contradicts") {
		t.Errorf("AUTHD_ISSUER and AUTHD_PUBLIC_URL disagreeing: exit %d, %q; want exit 2", code, errOut)
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

// joseDir holds the Node verifiers: package.json, the lock file pinning
// jose and openid-client, verify.mjs and oidc.mjs, and node_modules once
// `npm ci` ran there.
var joseDir = filepath.Join("..", "..", "e2e", "jose")

// nodeWithJose returns the node binary, or skips the test when node or the
// pinned jose is not installed; under CI it fails instead, since .ci/run
// installs both.
func nodeWithJose(t *testing.T) string {
	t.Helper()
	return nodeWith(t, "jose")
}

// nodeWith returns the node binary, or skips the test when node or one of
// the packages, at the version package-lock.json pins, is not installed in
// e2e/jose; under CI it fails instead, since .ci/run installs them.
func nodeWith(t *testing.T, packages ...string) string {
	t.Helper()
	missing := func(format string, args ...any) {
		t.Helper()
		if os.Getenv("CI") != "" {
			t.Fatalf(format+" (.ci/run installs it: npm ci --prefix e2e/jose)", args...)
		}
		t.Skipf("SKIPPED: "+format+"; run `npm ci --prefix e2e/jose` to verify authd's tokens with Node's %s", append(args, strings.Join(packages, " and "))...)
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
	for _, pkg := range packages {
		want := lock.Packages["node_modules/"+pkg].Version
		var installed struct{ Version string }
		b, err := os.ReadFile(filepath.Join(joseDir, "node_modules", pkg, "package.json"))
		if err != nil {
			missing("%s is not installed in e2e/jose: %v", pkg, err)
		}
		if err := json.Unmarshal(b, &installed); err != nil || want == "" || installed.Version != want {
			missing("e2e/jose/node_modules has %s %q, the lock file pins %q (%v)", pkg, installed.Version, want, err)
		}
	}
	return node
}

// joseResult is a Node verifier's answer for one token.
type joseResult struct {
	Claims map[string]any `json:"claims"`
	Error  string         `json:"error"`
	Code   string         `json:"code"`
}

// runNode runs script (verify.mjs or oidc.mjs) for authd's issuer with the
// named tokens, decodes what it printed into out, and returns the verdicts.
func runNode(t *testing.T, node, script, issuer string, env []string, tokens map[string]string, out any) map[string]joseResult {
	t.Helper()
	in, _ := json.Marshal(tokens)
	ctx, cancel := context.WithTimeout(context.Background(), patience)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, filepath.Join(joseDir, script))
	cmd.Env = append(append(os.Environ(), "AUTHD_ISSUER="+issuer), env...)
	cmd.Stdin = bytes.NewReader(in)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("node %s %s: %v\nstdout: %s\nstderr: %s", script, issuer, err, &stdout, &stderr)
	}
	var results struct {
		Results map[string]joseResult `json:"results"`
	}
	if err := json.Unmarshal(stdout.Bytes(), &results); err != nil {
		t.Fatalf("node %s printed %q: %v (stderr %s)", script, &stdout, err, &stderr)
	}
	if err := json.Unmarshal(stdout.Bytes(), out); err != nil {
		t.Fatalf("node %s printed %q: %v", script, &stdout, err)
	}
	if len(results.Results) != len(tokens) {
		t.Fatalf("%s answered for %d tokens, want %d: %s", script, len(results.Results), len(tokens), &stdout)
	}
	return results.Results
}

// runJose runs verify.mjs for authd's issuer with the named tokens, and
// returns the discovery document it read and its verdicts.
func runJose(t *testing.T, node, issuer string, env []string, tokens map[string]string) (discoveryDoc, map[string]joseResult) {
	t.Helper()
	var out struct {
		Discovery discoveryDoc `json:"discovery"`
	}
	got := runNode(t, node, "verify.mjs", issuer, env, tokens, &out)
	return out.Discovery, got
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

// loginAt logs dana in at addr.
func loginAt(t *testing.T, addr string, opt grpc.DialOption) *authv1.LoginResponse {
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

// discoveryFleet starts what the Node verifiers are tried against: authd
// at a public URL of its own (HTTP, or HTTPS with a certificate), and the
// tokens to try, named: an access token, a refresh token, a tampered
// token, one for another audience (an instance sharing the keys and the
// public URL), and one signed by another authd's key.
func discoveryFleet(t *testing.T, tlsArgs []string, dial grpc.DialOption, scheme string) (issuer string, tokens map[string]string) {
	t.Helper()
	data, other := t.TempDir(), t.TempDir()
	for _, dir := range []string{data, other} {
		if _, errOut, code := authd(t, dir, "violet tangerine 42\n", "user", "add", "dana", "--password-stdin"); code != 0 {
			t.Fatalf("user add: exit %d: %s", code, errOut)
		}
	}
	addr := freeAddr(t)
	issuer = scheme + "://" + addr
	srv := startServe(t, data, nil, append([]string{"--http-addr", addr, "--public-url", issuer}, tlsArgs...)...)
	elsewhere := startServe(t, data, nil, append([]string{"--public-url", issuer, "--audience", "elsewhere"}, tlsArgs...)...)
	stranger := startServe(t, other, nil, append([]string{"--public-url", issuer}, tlsArgs...)...)
	own := loginAt(t, srv.addr, dial)
	return issuer, map[string]string{
		"access":      own.AccessToken,
		"refresh":     own.RefreshToken,
		"tampered":    tamper(t, own.AccessToken),
		"audience":    loginAt(t, elsewhere.addr, dial).AccessToken,
		"foreign key": loginAt(t, stranger.addr, dial).AccessToken,
	}
}

// checkVerdicts checks what a Node verifier said of discoveryFleet's
// tokens: only the access token passes, the refresh token is refused by
// its typ alone (its signature, issuer and audience pass), and the others
// each by what is wrong with them.
func checkVerdicts(t *testing.T, issuer string, got map[string]joseResult) {
	t.Helper()
	if r := got["access"]; r.Error != "" || r.Claims["sub"] != "dana" || r.Claims["type"] != "access" || r.Claims["iss"] != issuer {
		t.Errorf("access token: %+v, want dana's claims", r)
	}
	if r := got["refresh"]; r.Claims != nil || r.Code != "ERR_JWT_CLAIM_VALIDATION_FAILED" || !strings.Contains(r.Error, "typ") {
		t.Errorf("refresh token: %+v, want refused by its typ", r)
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
}

// A verifier that is not ours — Node's jose, pinned in
// e2e/jose/package-lock.json — finds authd's keys through the discovery
// document under authd's issuer (over HTTP and HTTPS), accepts an access
// token, and refuses, as docs/api.md's snippet does, a refresh token by its typ,
// a tampered token, a token for another audience signed with authd's key,
// and one signed by another authd's key.
func TestE2E_JoseVerifiesThroughDiscovery(t *testing.T) {
	t.Parallel()
	node := nodeWithJose(t)
	dir := t.TempDir()
	certFile, keyFile, caFile := filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key"), filepath.Join(dir, "ca.pem")
	ca := newCA(t, "jose")
	c, k := ca.issue(t, false)
	writeFile(t, certFile, c)
	writeFile(t, keyFile, k)
	writeFile(t, caFile, ca.pem)
	for _, tc := range []struct {
		name, scheme string
		tlsArgs      []string
		dial         grpc.DialOption
		env          []string
	}{
		{"http", "http", nil, dialInsecure, nil},
		{"https", "https", []string{"--tls-cert", certFile, "--tls-key", keyFile},
			grpc.WithTransportCredentials(credentials.NewTLS(&tls.Config{RootCAs: ca.pool, MinVersion: tls.VersionTLS12})),
			[]string{"NODE_EXTRA_CA_CERTS=" + caFile}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			issuer, tokens := discoveryFleet(t, tc.tlsArgs, tc.dial, tc.scheme)
			doc, got := runJose(t, node, issuer, tc.env, tokens)
			if doc.Issuer != issuer || doc.JWKSURI != issuer+"/.well-known/jwks.json" {
				t.Errorf("jose read issuer %q, jwks_uri %q", doc.Issuer, doc.JWKSURI)
			}
			checkVerdicts(t, issuer, got)
		})
	}
}

// A stock OpenID Connect client library — openid-client, pinned in
// e2e/jose/package-lock.json — discovers authd from its issuer (the
// --public-url) as it discovers any OpenID provider, checking that the
// document names that issuer, and verifies an access token with the keys,
// issuer and algorithms discovered, typed at+jwt as RFC 9068 has it; the
// refresh token, typed refresh+jwt, is refused without any knowledge of
// authd's type claim.
func TestE2E_OpenIDClientVerifiesAnAccessToken(t *testing.T) {
	t.Parallel()
	node := nodeWith(t, "jose", "openid-client")
	issuer, tokens := discoveryFleet(t, nil, dialInsecure, "http")
	var out struct {
		Metadata struct {
			Issuer  string   `json:"issuer"`
			JWKSURI string   `json:"jwks_uri"`
			Algs    []string `json:"id_token_signing_alg_values_supported"`
		} `json:"metadata"`
	}
	got := runNode(t, node, "oidc.mjs", issuer, nil, tokens, &out)
	if out.Metadata.Issuer != issuer || out.Metadata.JWKSURI != issuer+"/.well-known/jwks.json" || !slices.Equal(out.Metadata.Algs, []string{"EdDSA"}) {
		t.Errorf("openid-client discovered %+v", out.Metadata)
	}
	checkVerdicts(t, issuer, got)
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
