package main

import (
	"testing"
)

// The passkey flags go together, and refuse what WebAuthn would: an IP
// address as the relying party ID, an origin not under it.
func TestE2E_WebAuthnFlagsRefuseBadValues(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{
		{"serve", "--webauthn-rp-id", "localhost"},
		{"serve", "--webauthn-origins", "http://localhost:8081"},
		{"serve", "--webauthn-rp-id", "127.0.0.1", "--webauthn-origins", "http://127.0.0.1:8081"},
		{"serve", "--webauthn-rp-id", "example.com", "--webauthn-origins", "https://example.org"},
		{"serve", "--webauthn-rp-id", "example.com", "--webauthn-origins", "https://*.example.com"},
	} {
		if _, errOut, code := authd(t, t.TempDir(), "", args...); code != 2 {
			t.Errorf("authd %v: exit %d, %s; want 2", args, code, errOut)
		}
	}
}
