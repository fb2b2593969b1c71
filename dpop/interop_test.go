package dpop_test

import (
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/authd-dev/authd/dpop"
)

// pyjwtProofs makes proofs with PyJWT (Debian's python3-jwt) and
// python3-cryptography, which share no code with this package: a new
// key's public jwk (PyJWT's to_jwk) in the header, the RFC 7638
// thumbprint computed in Python, and the forgeries a verifier must refuse.
const pyjwtProofs = `
import base64, hashlib, json, sys
import jwt
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
req = json.load(sys.stdin)
claims = {"jti": req["jti"], "htm": "POST", "htu": req["htu"], "iat": req["iat"], "ath": req["ath"]}
def thumbprint(jwk, members):
    canonical = json.dumps({m: jwk[m] for m in members}, separators=(",", ":"), sort_keys=True)
    return base64.urlsafe_b64encode(hashlib.sha256(canonical.encode()).digest()).rstrip(b"=").decode()
out = {}
es = ec.generate_private_key(ec.SECP256R1())
es_jwk = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(es.public_key()))
out["ES256"] = {"proof": jwt.encode(dict(claims, jti=req["jti"] + "-es"), es, algorithm="ES256",
                                    headers={"typ": "dpop+jwt", "jwk": es_jwk}),
                "jkt": thumbprint(es_jwk, ["crv", "kty", "x", "y"])}
ed = ed25519.Ed25519PrivateKey.generate()
ed_jwk = json.loads(jwt.algorithms.OKPAlgorithm.to_jwk(ed.public_key()))
out["EdDSA"] = {"proof": jwt.encode(dict(claims, jti=req["jti"] + "-ed"), ed, algorithm="EdDSA",
                                    headers={"typ": "dpop+jwt", "jwk": ed_jwk}),
                "jkt": thumbprint(ed_jwk, ["crv", "kty", "x"])}
out["none"] = {"proof": jwt.encode(claims, None, algorithm="none", headers={"typ": "dpop+jwt", "jwk": es_jwk})}
out["HS256"] = {"proof": jwt.encode(claims, es_jwk["x"], algorithm="HS256", headers={"typ": "dpop+jwt", "jwk": es_jwk})}
json.dump(out, sys.stdout)
`

// TestInterop_PyJWTProofs: a proof made by an independent JOSE
// implementation is accepted, with the thumbprint it computes; its alg
// none and HS256 forgeries are refused.
func TestInterop_PyJWTProofs(t *testing.T) {
	python := "/usr/bin/python3"
	if err := exec.Command(python, "-c", "import jwt, cryptography").Run(); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("python3-jwt is missing (.ci/run installs it): %v", err)
		}
		t.Skipf("SKIPPED: %s cannot import jwt and cryptography (apt-get install python3-jwt python3-cryptography): %v", python, err)
	}
	in, _ := json.Marshal(map[string]any{"jti": "pyjwt", "htu": htu, "iat": t0.Unix(), "ath": dpop.TokenHash(access)})
	cmd := exec.Command(python, "-c", pyjwtProofs)
	cmd.Stdin = strings.NewReader(string(in))
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("python: %v", err)
	}
	var proofs map[string]struct{ Proof, JKT string }
	if err := json.Unmarshal(out, &proofs); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	v, _ := newVerifier(dpop.Config{})
	for _, alg := range []string{"ES256", "EdDSA"} {
		p, err := v.Verify([]string{proofs[alg].Proof}, "POST", htu, access)
		if err != nil {
			t.Errorf("PyJWT's %s proof refused: %v", alg, err)
			continue
		}
		if p.JKT != proofs[alg].JKT || p.JTI != "pyjwt-"+map[string]string{"ES256": "es", "EdDSA": "ed"}[alg] {
			t.Errorf("%s: jkt %s (Python: %s), jti %q", alg, p.JKT, proofs[alg].JKT, p.JTI)
		}
	}
	for _, alg := range []string{"none", "HS256"} {
		if _, err := v.Verify([]string{proofs[alg].Proof}, "POST", htu, access); !errors.Is(err, dpop.ErrProofInvalid) {
			t.Errorf("PyJWT's alg %s proof: %v", alg, err)
		}
	}
}
