package service_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"testing"

	"github.com/go-webauthn/webauthn/protocol/webauthncbor"
)

// authenticator is a software passkey: an ES256 key pair behind the
// WebAuthn client (the browser) and authenticator (CTAP2) steps that the
// ceremonies check — clientDataJSON, authenticatorData, the "none"
// attestation, the signature over both — for one relying party ID and
// page origin, which a test may set to someone else's.
type authenticator struct {
	t      testing.TB
	key    *ecdsa.PrivateKey
	id     []byte // the credential id
	handle []byte // the user handle given at registration
	// Count is the signature counter the next assertion carries (then
	// one more); a test sets it back to play a cloned authenticator.
	Count uint32
	// Origin and RPID are where the client says the page is and whose
	// credential the authenticator uses.
	Origin, RPID string
	// UV says whether the authenticator verifies its user (a PIN, a
	// fingerprint).
	UV bool
}

func newAuthenticator(t testing.TB, origin, rpID string) *authenticator {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	id := make([]byte, 16)
	_, _ = rand.Read(id)
	return &authenticator{t: t, key: key, id: id, Count: 1, Origin: origin, RPID: rpID, UV: true}
}

// options is the part of the creation and request options JSON an
// authenticator reads.
type options struct {
	PublicKey struct {
		Challenge string `json:"challenge"`
		RP        struct {
			ID string `json:"id"`
		} `json:"rp"`
		RPID string `json:"rpId"`
		User struct {
			ID string `json:"id"`
		} `json:"user"`
		UserVerification string `json:"userVerification"`
		Allow            []struct {
			ID string `json:"id"`
		} `json:"allowCredentials"`
		Exclude []struct {
			ID string `json:"id"`
		} `json:"excludeCredentials"`
	} `json:"publicKey"`
}

func (a *authenticator) read(optionsJSON string) options {
	a.t.Helper()
	var o options
	if err := json.Unmarshal([]byte(optionsJSON), &o); err != nil {
		a.t.Fatalf("options_json %s: %v", optionsJSON, err)
	}
	if o.PublicKey.Challenge == "" {
		a.t.Fatalf("options_json without a challenge: %s", optionsJSON)
	}
	return o
}

var b64url = base64.RawURLEncoding

func (a *authenticator) clientData(typ, challenge string) []byte {
	cd, err := json.Marshal(map[string]any{"type": typ, "challenge": challenge, "origin": a.Origin, "crossOrigin": false})
	if err != nil {
		a.t.Fatal(err)
	}
	return cd
}

// authData is rpIdHash, flags, the counter, and attested (the attested
// credential data of a registration) when not nil.
func (a *authenticator) authData(attested []byte) []byte {
	rp := sha256.Sum256([]byte(a.RPID))
	flags := byte(0x01) // user present
	if a.UV {
		flags |= 0x04
	}
	if attested != nil {
		flags |= 0x40
	}
	out := append(rp[:], flags)
	out = binary.BigEndian.AppendUint32(out, a.Count)
	a.Count++
	return append(out, attested...)
}

// Register answers the creation options of BeginPasskeyRegistration with
// a new credential, as PublicKeyCredential.toJSON() gives it.
func (a *authenticator) Register(optionsJSON string) string {
	a.t.Helper()
	o := a.read(optionsJSON)
	for _, ex := range o.PublicKey.Exclude {
		if ex.ID == b64url.EncodeToString(a.id) {
			a.t.Fatalf("registering a credential the options exclude")
		}
	}
	handle, err := b64url.DecodeString(o.PublicKey.User.ID)
	if err != nil || len(handle) == 0 {
		a.t.Fatalf("user.id %q: %v", o.PublicKey.User.ID, err)
	}
	a.handle = handle
	// The uncompressed point: 0x04, then x and y, 32 bytes each.
	point, err := a.key.PublicKey.Bytes()
	if err != nil {
		a.t.Fatal(err)
	}
	cose, err := webauthncbor.Marshal(map[int]any{1: 2, 3: -7, -1: 1, -2: point[1:33], -3: point[33:]})
	if err != nil {
		a.t.Fatal(err)
	}
	attested := make([]byte, 16) // AAGUID: none
	attested = binary.BigEndian.AppendUint16(attested, uint16(len(a.id)))
	attested = append(append(attested, a.id...), cose...)
	att, err := webauthncbor.Marshal(map[string]any{"fmt": "none", "attStmt": map[string]any{}, "authData": a.authData(attested)})
	if err != nil {
		a.t.Fatal(err)
	}
	return a.json(map[string]any{
		"clientDataJSON":    b64url.EncodeToString(a.clientData("webauthn.create", o.PublicKey.Challenge)),
		"attestationObject": b64url.EncodeToString(att),
		"transports":        []string{"internal"},
	})
}

// Assert answers the request options of BeginPasskeyLogin or
// BeginPasskeyStepUp with an assertion of the credential.
func (a *authenticator) Assert(optionsJSON string) string {
	a.t.Helper()
	o := a.read(optionsJSON)
	cd := a.clientData("webauthn.get", o.PublicKey.Challenge)
	data := a.authData(nil)
	digest := sha256.Sum256(append(append([]byte{}, data...), sha256Of(cd)...))
	sig, err := ecdsa.SignASN1(rand.Reader, a.key, digest[:])
	if err != nil {
		a.t.Fatal(err)
	}
	return a.json(map[string]any{
		"clientDataJSON":    b64url.EncodeToString(cd),
		"authenticatorData": b64url.EncodeToString(data),
		"signature":         b64url.EncodeToString(sig),
		"userHandle":        b64url.EncodeToString(a.handle),
	})
}

func (a *authenticator) json(response map[string]any) string {
	a.t.Helper()
	out, err := json.Marshal(map[string]any{
		"id": b64url.EncodeToString(a.id), "rawId": b64url.EncodeToString(a.id), "type": "public-key",
		"authenticatorAttachment": "platform", "response": response, "clientExtensionResults": map[string]any{},
	})
	if err != nil {
		a.t.Fatal(err)
	}
	return string(out)
}

func sha256Of(b []byte) []byte {
	sum := sha256.Sum256(b)
	return sum[:]
}
