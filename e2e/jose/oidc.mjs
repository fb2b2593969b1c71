// A stock OpenID Connect client: openid-client (pinned in
// package-lock.json) discovers authd from its issuer alone, as it discovers
// any OpenID provider: it fetches <issuer>/.well-known/openid-configuration
// and refuses a document that names another issuer. jose, the library
// openid-client is built on, then verifies access tokens with the keys the
// document points to, as RFC 9068 types them (typ at+jwt), with the
// issuer and algorithms the document names.
//
// Usage: AUTHD_ISSUER=https://… node oidc.mjs < tokens.json
// The output, on stdout, is one JSON object: the server metadata
// openid-client discovered, and per name either {"claims": …} or
// {"error": message, "code": error code}.
import * as client from "openid-client";
import { createRemoteJWKSet, jwtVerify } from "jose";

const issuer = new URL(process.env.AUTHD_ISSUER);
// authd issues tokens over gRPC: openid-client is used for discovery only,
// so the client id is a placeholder. Plain http is for the loopback test.
const options = issuer.protocol === "http:" ? { execute: [client.allowInsecureRequests] } : undefined;
const config = await client.discovery(issuer, "authd-e2e", undefined, undefined, options);
const metadata = config.serverMetadata();
const keys = createRemoteJWKSet(new URL(metadata.jwks_uri));

let input = "";
for await (const chunk of process.stdin) input += chunk;
const results = {};
for (const [name, token] of Object.entries(JSON.parse(input))) {
  try {
    const { payload } = await jwtVerify(token, keys, {
      issuer: metadata.issuer,
      audience: process.env.AUTHD_AUDIENCE ?? "authd",
      typ: "at+jwt",
      algorithms: metadata.id_token_signing_alg_values_supported,
    });
    results[name] = { claims: payload };
  } catch (err) {
    results[name] = { error: err.message, code: err.code ?? "" };
  }
}
process.stdout.write(JSON.stringify({ metadata, results }) + "\n");
