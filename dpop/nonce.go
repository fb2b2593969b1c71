package dpop

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"time"
)

// A nonce is the second it was issued in and an HMAC of it under the
// verifier's secret, base64url: any verifier with the secret can tell one
// it issued, and when, without remembering anything (RFC 9449 §8 leaves
// the form to the server). Every nonce of a second is the same; a client
// uses the last one it was given.
const (
	nonceTimeLen = 8
	nonceMACLen  = 16
)

// Nonce returns a fresh nonce, for the dpop-nonce response header: proofs
// carrying it are accepted for Config.NonceLifetime.
func (v *Verifier) Nonce() string { return v.nonce(v.clock.Now()) }

// RequiresNonce reports whether the verifier refuses proofs without one
// of its nonces (Config.RequireNonce), whose adapters then hand out fresh
// nonces.
func (v *Verifier) RequiresNonce() bool { return v.requireNonce }

func (v *Verifier) nonce(now time.Time) string {
	var b [nonceTimeLen + nonceMACLen]byte
	binary.BigEndian.PutUint64(b[:nonceTimeLen], uint64(now.Unix()))
	copy(b[nonceTimeLen:], v.nonceMAC(b[:nonceTimeLen]))
	return base64.RawURLEncoding.EncodeToString(b[:])
}

func (v *Verifier) nonceMAC(issued []byte) []byte {
	m := hmac.New(sha256.New, v.nonceKey)
	m.Write([]byte("authd dpop nonce\x00"))
	m.Write(issued)
	return m.Sum(nil)[:nonceMACLen]
}

// validNonce reports whether nonce was issued with the verifier's secret
// within the nonce lifetime before now, or at most the window after it
// (another instance's clock).
func (v *Verifier) validNonce(nonce string, now time.Time) bool {
	b, err := base64.RawURLEncoding.Strict().DecodeString(nonce)
	if err != nil || len(b) != nonceTimeLen+nonceMACLen {
		return false
	}
	if !hmac.Equal(b[nonceTimeLen:], v.nonceMAC(b[:nonceTimeLen])) {
		return false
	}
	secs := binary.BigEndian.Uint64(b[:nonceTimeLen])
	if secs > 1<<40 {
		return false
	}
	issued := time.Unix(int64(secs), 0)
	return !issued.Before(now.Add(-v.nonceLifetime)) && !issued.After(now.Add(v.window))
}
