// Command dpopproof prints a DPoP proof (RFC 9449) for one gRPC call, for
// trying a DPoP-bound token with grpcurl:
//
//	grpcurl -plaintext -H "authorization: DPoP $ACCESS" \
//	  -H "dpop: $(go run ./examples/dpopproof -key key.pem -token "$ACCESS" \
//	      -authority 127.0.0.1:50052 -method /example.v1.GreeterService/WhoAmI)" \
//	  127.0.0.1:50052 example.v1.GreeterService/WhoAmI
//
// It keeps its key in the PKCS#8 PEM file -key, created (0600) on first
// use: the tokens a Login with its proofs gets are bound to that key, and
// every later proof must be signed by it. Without -token the proof has no
// ath, as a Login's; -nonce signs in a server's dpop-nonce. A proof is
// accepted once, within a minute: make a new one for every call.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"time"

	"github.com/authd-dev/authd/dpop"
)

func main() {
	keyFile := flag.String("key", "dpop-key.pem", "the key's PEM file, created when missing")
	method := flag.String("method", "", "the call's full method, /pkg.Service/Method")
	authority := flag.String("authority", "127.0.0.1:50051", "the host:port the call is addressed to (its :authority)")
	scheme := flag.String("scheme", "http", `"https" over TLS, "http" otherwise (grpcurl -plaintext)`)
	tok := flag.String("token", "", "the access (or refresh) token sent beside the proof; none for Login")
	nonce := flag.String("nonce", "", "the server's dpop-nonce, when it asks for one")
	thumbprint := flag.Bool("thumbprint", false, "print the key's thumbprint (the cnf.jkt of the tokens bound to it) instead")
	flag.Parse()
	if err := run(*keyFile, *method, *authority, *scheme, *tok, *nonce, *thumbprint); err != nil {
		fmt.Fprintln(os.Stderr, "dpopproof:", err)
		os.Exit(1)
	}
}

func run(keyFile, method, authority, scheme, tok, nonce string, thumbprint bool) error {
	key, err := loadKey(keyFile)
	if err != nil {
		return err
	}
	if thumbprint {
		fmt.Println(key.Thumbprint())
		return nil
	}
	if method == "" {
		return errors.New("-method is required, e.g. /auth.v1.AuthService/Login")
	}
	proof, err := key.Proof("POST", dpop.HTU(scheme, authority, method), tok, nonce, time.Now())
	if err != nil {
		return err
	}
	fmt.Println(proof)
	return nil
}

// loadKey reads the key of path, or creates it there.
func loadKey(path string) (*dpop.Key, error) {
	b, err := os.ReadFile(path)
	if err == nil {
		return dpop.ParseKey(b)
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	key, err := dpop.NewKey()
	if err != nil {
		return nil, err
	}
	pem, err := key.MarshalPEM()
	if err != nil {
		return nil, err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, err
	}
	if _, err := f.Write(pem); err != nil {
		f.Close()
		return nil, err
	}
	return key, f.Close()
}
