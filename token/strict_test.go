package token_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/authd-dev/authd/token"
)

// TestVerify_OneSpellingPerToken: a valid token stays valid only as
// written; every other spelling Go's lenient decoders would read the same
// (line breaks, padding, the other base64 alphabet, stray bytes) is
// refused before decoding.
func TestVerify_OneSpellingPerToken(t *testing.T) {
	_, signer, v, _ := newEd25519(t)
	good, err := signer.Sign(accessClaims(t0))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := v.Verify(context.Background(), good); err != nil {
		t.Fatalf("the token as signed: %v", err)
	}
	p := strings.Split(good, ".")
	standard := strings.NewReplacer("-", "+", "_", "/").Replace(good)
	if standard == good { // no '-' or '_' happened to be drawn: write one '+'
		standard = p[0] + "." + p[1] + ".+" + p[2][1:]
	}
	for name, raw := range map[string]string{
		"line feed in the header":        p[0][:4] + "\n" + p[0][4:] + "." + p[1] + "." + p[2],
		"carriage return in the payload": p[0] + "." + p[1][:4] + "\r" + p[1][4:] + "." + p[2],
		"CRLF in the signature":          p[0] + "." + p[1] + "." + p[2][:4] + "\r\n" + p[2][4:],
		"padding":                        good + "=",
		"padded header":                  p[0] + "==." + p[1] + "." + p[2],
		"standard alphabet":              standard,
		"a space":                        good[:10] + " " + good[10:],
		"a NUL":                          good + "\x00",
		"four segments":                  good + ".AAAA",
		"two segments":                   p[0] + "." + p[1],
		"empty signature":                p[0] + "." + p[1] + ".",
		"empty header":                   "." + p[1] + "." + p[2],
		"non-ASCII":                      good[:10] + "é" + good[10:],
	} {
		_, err := v.Verify(context.Background(), raw)
		if !errors.Is(err, token.ErrMalformed) || !errors.Is(err, token.ErrInvalid) {
			t.Errorf("%s: %v, want ErrMalformed (an ErrInvalid)", name, err)
		}
	}
}
