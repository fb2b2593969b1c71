// Package token mints and strictly verifies authd's JWTs: the claims, the
// keys that sign them (Ed25519 by default, HS256 for flask-jwt-extended
// interop) and their JWKS form.
package token
