// A verifier that is not authd's: Node's jose (the version pinned in
// package-lock.json) finds authd's keys through its discovery document and
// checks tokens as README ("Operations", "Verifying without Go") tells
// non-Go consumers to.
//
// Usage: AUTHD_ISSUER=https://… node verify.mjs < tokens.json
// AUTHD_ISSUER is authd's --public-url, its issuer. tokens.json maps names
// to tokens; the output, on stdout, is one JSON object: the discovery
// document, and per name either {"claims": …} or {"error": message,
// "code": jose's error code}.
import { createRemoteJWKSet, jwtVerify } from "jose";

// README: begin
const issuer = process.env.AUTHD_ISSUER; // authd's --public-url, its issuer: https://auth.example.com
const res = await fetch(`${issuer}/.well-known/openid-configuration`);
if (!res.ok) throw new Error(`${issuer}: discovery: ${res.status}`);
const discovery = await res.json();
if (discovery.issuer !== issuer) throw new Error(`discovery names issuer ${discovery.issuer}, want ${issuer}`);
const keys = createRemoteJWKSet(new URL(discovery.jwks_uri)); // cached; refetched on an unknown kid

// verifyAccess returns an access token's claims, and throws for anything
// else: a bad signature, an unknown key, another issuer or audience, an
// expired token, and a refresh token (signed by the same key, typed
// refresh+jwt).
async function verifyAccess(token) {
  const { payload } = await jwtVerify(token, keys, {
    issuer,
    audience: "authd", // authd's --audience
    typ: "at+jwt", // access tokens (RFC 9068); refresh tokens are refresh+jwt
    algorithms: ["EdDSA"],
  });
  return payload;
}
// README: end

let input = "";
for await (const chunk of process.stdin) input += chunk;
const results = {};
for (const [name, token] of Object.entries(JSON.parse(input))) {
  try {
    results[name] = { claims: await verifyAccess(token) };
  } catch (err) {
    results[name] = { error: err.message, code: err.code ?? "" };
  }
}
process.stdout.write(JSON.stringify({ discovery, results }) + "\n");
