package dpop_test

import (
	"testing"
	"time"

	"github.com/authd-dev/authd/dpop"
)

// BenchmarkVerify is what a proof costs a server on every call: parsing,
// one signature verification and the replay check; signing is the
// client's.
func BenchmarkVerify(b *testing.B) {
	ed, err := dpop.NewEd25519Key()
	if err != nil {
		b.Fatal(err)
	}
	for _, k := range []*dpop.Key{newKey(b), ed} {
		b.Run(k.Algorithm(), func(b *testing.B) {
			proofs := make([]string, b.N)
			for i := range proofs {
				proofs[i] = proof(b, k, "POST", htu, access, "", t0)
			}
			v := dpop.NewVerifier(dpop.Config{Clock: fixed(t0), ReplayCacheSize: b.N + 1})
			b.ReportAllocs()
			b.ResetTimer()
			for i := range b.N {
				if _, err := v.Verify(proofs[i:i+1], "POST", htu, access); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(k.Algorithm()+"/sign", func(b *testing.B) {
			b.ReportAllocs()
			for range b.N {
				proof(b, k, "POST", htu, access, "", t0)
			}
		})
	}
}

type fixedClock time.Time

func fixed(t time.Time) fixedClock { return fixedClock(t) }

func (c fixedClock) Now() time.Time { return time.Time(c) }

func (c fixedClock) AfterFunc(time.Duration, func()) func() bool { return func() bool { return false } }
