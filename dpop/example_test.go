package dpop_test

import (
	"fmt"
	"time"

	"github.com/authd-dev/authd/dpop"
)

// A client signs a proof for each call with the key its token is bound
// to; the server verifies it and compares the proven key with the token's
// cnf.jkt.
func Example() {
	key, err := dpop.NewKey() // keep it (key.MarshalPEM) as long as the tokens bound to it
	if err != nil {
		panic(err)
	}
	accessToken := "eyJ…" // bound to key.Thumbprint() by its cnf.jkt
	htu := dpop.HTU("https", "api.example.com", "/shop.v1.Orders/Cancel")
	proof, err := key.Proof("POST", htu, accessToken, "", time.Now())
	if err != nil {
		panic(err)
	}
	// Sent as metadata: authorization "DPoP <accessToken>", dpop <proof>.

	v := dpop.NewVerifier(dpop.Config{})
	p, err := v.Verify([]string{proof}, "POST", htu, accessToken)
	fmt.Println(err, p.JKT == key.Thumbprint())
	_, err = v.Verify([]string{proof}, "POST", htu, accessToken)
	fmt.Println(err)
	// Output:
	// <nil> true
	// invalid DPoP proof: jti seen before: a proof is accepted once
}
