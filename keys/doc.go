// Package keys keeps authd's Ed25519 signing keys through their whole life,
// and signs with them: created, next (published and verifying, not yet
// signing: a rotation's key until its activation, a propagation delay
// later), current (signs), retired (verifies until every token it signed
// has expired), pruned, or revoked at once after a compromise.
//
// The keys live in a Backend: a directory of PEM files (Dir, one instance
// with SQLite) or rows of a shared database, sealed under a key-encryption
// secret (Database, a fleet on PostgreSQL). A Manager runs the lifecycle
// operations on the stored keys (what `authd keys …` does); a Ring is the
// serving keyring built from them, which signs with the current key,
// verifies with all, reloads on SIGHUP or a schedule, and re-reads the
// stored keys at most once per cooldown when a token names a kid it does
// not know (another instance rotated at once). Which key signs is decided
// by the clock, not by a reload: every instance holding a next key starts
// signing with it at its activation, the same instant everywhere. A Signer stamps authd's issuer and
// audience on claims and signs them with the current key.
//
//	ring, err := keys.Open(ctx, keys.Dir("data/keys"), keys.WithKeep(keys.Keep(accessTTL, refreshTTL)))
//	signer, err := keys.NewSigner(ring, issuer, []string{audience})
//	verifier, err := token.NewVerifier(ring)
package keys
