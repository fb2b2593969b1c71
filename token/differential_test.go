package token_test

import (
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/authd-dev/authd/keys"
	"github.com/authd-dev/authd/token"
)

// pyjwtVerify verifies tokens with PyJWT (Debian's python3-jwt), an
// implementation that shares no code with authd's, and returns, per token,
// the claims it read or why it refuses.
const pyjwtVerify = `
import base64, json, sys
import jwt
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
req = json.load(sys.stdin)
key = Ed25519PublicKey.from_public_bytes(base64.urlsafe_b64decode(req["key"] + "=="))
out = []
for t in req["tokens"]:
    try:
        claims = jwt.decode(t, key, algorithms=["EdDSA"], audience="authd", issuer="authd",
                            options={"require": ["exp", "iat", "sub"]})
        out.append({"claims": claims})
    except Exception as e:
        out.append({"error": type(e).__name__ + ": " + str(e)})
json.dump(out, sys.stdout)
`

// differentialKnown lists tokens authd accepts and PyJWT refuses, each
// with the reason that is acceptable. Empty: there are none.
var differentialKnown = map[string]string{}

// TestDifferential_PyJWTAcceptsWhatAuthdAccepts verifies a corpus of
// hostile and edge-case tokens (RFC 7515 / 8725 tricks, the fuzzers'
// seeds) with authd and with PyJWT: a token authd accepts and another
// JOSE implementation refuses would be a parser differential, one token
// read two ways.
func TestDifferential_PyJWTAcceptsWhatAuthdAccepts(t *testing.T) {
	python := "/usr/bin/python3"
	if err := exec.Command(python, "-c", "import jwt, cryptography").Run(); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("python3-jwt is missing (.ci/run installs it): %v", err)
		}
		t.Skipf("skipped: %s cannot import jwt and cryptography (apt-get install python3-jwt python3-cryptography): %v", python, err)
	}
	pub, priv, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	key := keys.Key{ID: token.Thumbprint(pub), Created: time.Now(), Public: pub, Private: priv}
	ring, err := keys.NewKeyring(key)
	if err != nil {
		t.Fatal(err)
	}
	v, err := token.NewVerifier(ring)
	if err != nil {
		t.Fatal(err)
	}
	corpus := hostileCorpus(key, time.Now().Unix())
	for _, dir := range []string{"testdata/fuzz/FuzzVerify"} {
		entries, _ := os.ReadDir(dir)
		for _, e := range entries {
			b, err := os.ReadFile(dir + "/" + e.Name())
			if err != nil {
				t.Fatal(err)
			}
			corpus["fuzz seed "+e.Name()] = fuzzSeed(t, b)
		}
	}

	var names, accepted []string
	var ours []*token.Claims
	for name, raw := range corpus {
		if c, err := v.Verify(context.Background(), raw); err == nil {
			names, accepted, ours = append(names, name), append(accepted, raw), append(ours, c)
		}
	}
	if len(accepted) < 3 {
		t.Fatalf("authd accepted only %v of the corpus: the corpus is broken", names)
	}
	in, _ := json.Marshal(map[string]any{"key": base64.RawURLEncoding.EncodeToString(pub), "tokens": accepted})
	cmd := exec.Command(python, "-c", pyjwtVerify)
	cmd.Stdin = strings.NewReader(string(in))
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("pyjwt: %v", err)
	}
	var verdicts []struct {
		Claims map[string]any `json:"claims"`
		Error  string         `json:"error"`
	}
	if err := json.Unmarshal(out, &verdicts); err != nil || len(verdicts) != len(accepted) {
		t.Fatalf("pyjwt answered %q (%v)", out, err)
	}
	for i, verdict := range verdicts {
		if differentialKnown[names[i]] != "" {
			continue
		}
		if verdict.Error != "" {
			t.Errorf("%s: authd accepts it, PyJWT refuses it: %s", names[i], verdict.Error)
			continue
		}
		// Both accept: they must also read the same claims.
		theirs, mine := verdict.Claims, ours[i]
		for name, want := range map[string]any{
			"sub": mine.Subject, "type": string(mine.Type), "jti": mine.ID, "sid": mine.SessionID,
			"exp": float64(mine.Expiry().Unix()), "scope": mine.Scope,
		} {
			got := theirs[name]
			if f, ok := got.(float64); ok && name == "exp" {
				got = float64(int64(f)) // NumericDates are whole seconds here
			}
			if got == nil {
				got = ""
			}
			if fmt.Sprint(got) != fmt.Sprint(want) {
				t.Errorf("%s: claim %s read as %v by authd and %v by PyJWT", names[i], name, want, got)
			}
		}
		if fmt.Sprint(theirs["roles"]) != fmt.Sprint(anySlice(mine.Roles)) {
			t.Errorf("%s: roles read as %v by authd and %v by PyJWT", names[i], mine.Roles, theirs["roles"])
		}
	}
	t.Logf("%d tokens, %d accepted by authd and checked with PyJWT", len(corpus), len(accepted))
}

// hostileCorpus maps a name to a token signed with key (or not), each
// written byte by byte so that duplicates, case variants and odd encodings
// survive.
func hostileCorpus(key keys.Key, now int64) map[string]string {
	hdr := fmt.Sprintf(`{"alg":"EdDSA","kid":%q,"typ":"at+jwt"}`, key.ID)
	claims := func(extra string) string {
		return fmt.Sprintf(`{"iss":"authd","aud":"authd","sub":"alice","type":"access","fresh":true,"jti":"j","sid":"s","iat":%d,"nbf":%d,"exp":%d%s}`,
			now, now, now+600, extra)
	}
	sign := func(h, p string) string {
		in := b64url(h) + "." + b64url(p)
		return in + "." + base64.RawURLEncoding.EncodeToString(ed25519.Sign(key.Private, []byte(in)))
	}
	valid := sign(hdr, claims(""))
	parts := strings.Split(valid, ".")
	c := map[string]string{
		"valid":                          valid,
		"extra members":                  sign(hdr, claims(`,"tenant":"t1","x":{"y":[1,2]}`)),
		"roles and scope":                sign(hdr, claims(`,"roles":["admin"],"scope":"a:b c"`)),
		"aud array with ours":            sign(hdr, strings.Replace(claims(""), `"aud":"authd"`, `"aud":["billing","authd"]`, 1)),
		"escaped member name":            sign(hdr, strings.Replace(claims(""), `"sub"`, `"s\u0075b"`, 1)),
		"escaped duplicate sub":          sign(hdr, claims(`,"s\u0075b":"root"`)),
		"duplicate sub":                  sign(hdr, claims(`,"sub":"root"`)),
		"case variant SUB":               sign(hdr, claims(`,"SUB":"root"`)),
		"case variant Exp":               sign(hdr, claims(fmt.Sprintf(`,"Exp":%d`, now-10))),
		"duplicate header alg":           sign(`{"alg":"EdDSA","alg":"none","kid":"`+key.ID+`"}`, claims("")),
		"case variant header ALG":        sign(`{"alg":"EdDSA","ALG":"none","kid":"`+key.ID+`"}`, claims("")),
		"typ upper case":                 sign(`{"alg":"EdDSA","kid":"`+key.ID+`","typ":"AT+JWT"}`, claims("")),
		"typ as a media type":            sign(`{"alg":"EdDSA","kid":"`+key.ID+`","typ":"application/at+jwt"}`, claims("")),
		"typ JWT":                        sign(`{"alg":"EdDSA","kid":"`+key.ID+`","typ":"JWT"}`, claims("")),
		"no typ":                         sign(`{"alg":"EdDSA","kid":"`+key.ID+`"}`, claims("")),
		"typ of a refresh token":         sign(`{"alg":"EdDSA","kid":"`+key.ID+`","typ":"refresh+jwt"}`, claims("")),
		"invalid UTF-8 in a claim":       sign(hdr, claims(",\"tenant\":\"t\xff1\"")),
		"invalid UTF-8 in sub":           sign(hdr, strings.Replace(claims(""), `"sub":"alice"`, "\"sub\":\"ali\xc3ce\"", 1)),
		"invalid UTF-8 in the header":    sign(`{"alg":"EdDSA","kid":"`+key.ID+`","typ":"at+jwt","x":"`+"\xff"+`"}`, claims("")),
		"exp as a string":                sign(hdr, strings.Replace(claims(""), fmt.Sprintf(`"exp":%d`, now+600), fmt.Sprintf(`"exp":"%d"`, now+600), 1)),
		"exp fractional":                 sign(hdr, strings.Replace(claims(""), fmt.Sprintf(`"exp":%d`, now+600), fmt.Sprintf(`"exp":%d.5`, now+600), 1)),
		"fresh as a NumericDate":         sign(hdr, strings.Replace(claims(""), `"fresh":true`, fmt.Sprintf(`"fresh":%d`, now+60), 1)),
		"sub not a string":               sign(hdr, strings.Replace(claims(""), `"sub":"alice"`, `"sub":7`, 1)),
		"iat in the future":              sign(hdr, strings.Replace(claims(""), fmt.Sprintf(`"iat":%d`, now), fmt.Sprintf(`"iat":%d`, now+3600), 1)),
		"b64 false header":               sign(`{"alg":"EdDSA","kid":"`+key.ID+`","b64":false}`, claims("")),
		"line break in payload":          parts[0] + "." + parts[1][:10] + "\n" + parts[1][10:] + "." + parts[2],
		"carriage return in signature":   parts[0] + "." + parts[1] + "." + parts[2][:5] + "\r" + parts[2][5:],
		"padded signature":               valid + "==",
		"padded payload":                 parts[0] + "." + parts[1] + "=." + parts[2],
		"standard base64 alphabet":       strings.NewReplacer("-", "+", "_", "/").Replace(valid),
		"four segments":                  valid + ".e30",
		"leading space":                  " " + valid,
		"payload array":                  sign(hdr, `["alice"]`),
		"payload with trailing garbage":  sign(hdr, claims("")+`x`),
		"payload with trailing object":   sign(hdr, claims("")+`{}`),
		"payload with a BOM":             sign(hdr, "\ufeff"+claims("")),
		"payload with surrounding space": sign(hdr, "  "+claims("")+"  "),
		"unsigned":                       parts[0] + "." + parts[1] + ".",
	}
	return c
}

func anySlice(ss []string) any {
	if ss == nil {
		return nil
	}
	out := make([]any, len(ss))
	for i, s := range ss {
		out[i] = s
	}
	return out
}

func b64url(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }

// fuzzSeed reads a Go fuzz corpus file holding one string.
func fuzzSeed(t *testing.T, b []byte) string {
	t.Helper()
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	var s string
	if _, err := fmt.Sscanf(strings.TrimPrefix(lines[len(lines)-1], "string("), "%q", &s); err != nil {
		t.Fatalf("fuzz seed %q: %v", b, err)
	}
	return s
}
