package token

import (
	"crypto/rand"
	"encoding/base64"
)

// NewID returns a random 128-bit identifier for jti and sid.
func NewID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go 1.24+).
	return base64.RawURLEncoding.EncodeToString(b[:])
}
