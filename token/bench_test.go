package token_test

import (
	"context"
	"strings"
	"testing"
)

func BenchmarkVerify(b *testing.B) {
	_, signer, v, _ := newEd25519(b)
	raw, err := signer.Sign(accessClaims(t0))
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	b.Run("EdDSA", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := v.Verify(ctx, raw); err != nil {
				b.Fatal(err)
			}
		}
	})
	// A 1 MiB hostile token is refused before any decoding: no allocation.
	huge := strings.Repeat("A", 1<<20)
	b.Run("oversized-1MiB", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := v.Verify(ctx, huge); err == nil {
				b.Fatal("accepted")
			}
		}
	})
}
