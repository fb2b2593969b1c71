// A verifier that is not authd's: Node's jose (the version pinned in
// package-lock.json) finds authd's keys through its discovery document and
// checks tokens as docs/api.md ("Verifying without Go") tells
// non-Go consumers to.
//
// Usage: AUTHD_DISCOVERY_URL=http://… node verify.mjs < tokens.json
// tokens.json maps names to tokens; the output, on stdout, is one JSON
// object: the discovery document, and per name either {"claims": …} or
// {"error": message, "code": jose's error code}.
import { createRemoteJWKSet, jwtVerify } from "jose";

// README: begin
const discoveryURL = process.env.AUTHD_DISCOVERY_URL; // https://auth.example.com/.well-known/openid-configuration
const res = await fetch(discoveryURL);
if (!res.ok) throw new Error(`${discoveryURL}: ${res.status}`);
const discovery = await res.json();
const keys = createRemoteJWKSet(new URL(discovery.jwks_uri)); // cached; refetched on an unknown kid

// verifyAccess returns an access token's claims, and throws for anything
// else: a bad signature, an unknown key, another issuer or audience, an
// expired token, and a refresh token (signed by the same key).
async function verifyAccess(token) {
  const { payload } = await jwtVerify(token, keys, {
    issuer: "authd", // authd's --issuer
    audience: "authd", // authd's --audience
    algorithms: ["EdDSA"],
  });
  if (payload.type !== "access") {
    throw new Error(`not an access token: type ${JSON.stringify(payload.type)}`);
  }
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
