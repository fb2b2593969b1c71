package dpop_test

import (
	"encoding/base64"
	"errors"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/authd-dev/authd/dpop"
)

// FuzzProof feeds arbitrary proofs to Verify, for a call at t0 with an
// access token: it must never panic, refuse with one of the package's
// errors only, and accept a proof once, whose key it names and whose
// header and payload are UTF-8 JSON.
func FuzzProof(f *testing.F) {
	es, ed := newRawES256(f), newRawEd25519(f)
	for _, seed := range []string{
		es.sign(f, es.header(), claims()),
		ed.sign(f, ed.header(), claims()),
		es.sign(f, with(es.header(), "jwk", es.priv), claims()),
		es.sign(f, with(es.header(), "kid", "k"), claims()),
		"", ".", "..", "a.b.c",
		"eyJhbGciOiJub25lIiwidHlwIjoiZHBvcCtqd3QifQ.e30.",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		v, _ := newVerifier(dpop.Config{})
		p, err := v.Verify([]string{raw}, "POST", htu, access)
		if err != nil {
			if !errors.Is(err, dpop.ErrProofInvalid) && !errors.Is(err, dpop.ErrProofRequired) {
				t.Fatalf("refused with %v, neither ErrProofInvalid nor ErrProofRequired", err)
			}
			return
		}
		if p.JKT == "" || p.JTI == "" || len(p.JTI) > dpop.MaxJTILength {
			t.Fatalf("accepted %q as %+v", raw, p)
		}
		for _, seg := range strings.Split(raw, ".")[:2] {
			if b, err := base64.RawURLEncoding.Strict().DecodeString(seg); err != nil || !utf8.Valid(b) {
				t.Fatalf("accepted %q, whose segment %q is not UTF-8 base64url", raw, seg)
			}
		}
		if _, err := v.Verify([]string{raw}, "POST", htu, access); !errors.Is(err, dpop.ErrProofInvalid) {
			t.Fatalf("accepted %q twice: %v", raw, err)
		}
	})
}
