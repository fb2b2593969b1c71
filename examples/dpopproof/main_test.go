package main

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/authd-dev/authd/dpop"
)

// The key is created once and kept: its proofs verify, for the call they
// name, as made by the same key every time.
func TestProofsOfTheKeptKey(t *testing.T) {
	path := filepath.Join(t.TempDir(), "key.pem")
	first, err := loadKey(path)
	if err != nil {
		t.Fatal(err)
	}
	again, err := loadKey(path)
	if err != nil || again.Thumbprint() != first.Thumbprint() {
		t.Fatalf("the kept key came back as %v, %v", again, err)
	}
	v := dpop.NewVerifier(dpop.Config{})
	htu := dpop.HTU("http", "127.0.0.1:50052", "/example.v1.GreeterService/WhoAmI")
	proof, err := again.Proof("POST", htu, "tok", "", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	p, err := v.Verify([]string{proof}, "POST", htu, "tok")
	if err != nil || p.JKT != first.Thumbprint() {
		t.Fatalf("Verify = %+v, %v", p, err)
	}
}
