package password_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/authd-dev/authd/password"
)

var cheap = password.Params{Memory: 64, Iterations: 1, Parallelism: 1, SaltLength: 16, KeyLength: 32}

func TestHash_DefaultParamsPHCFormat(t *testing.T) {
	h, err := password.NewHasher(password.DefaultParams, 1)
	if err != nil {
		t.Fatal(err)
	}
	enc, err := h.Hash(context.Background(), "correct horse")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(enc, "$argon2id$v=19$m=19456,t=2,p=1$") {
		t.Fatalf("hash = %s", enc)
	}
	ok, rehash, err := h.Verify(context.Background(), "correct horse", enc)
	if !ok || rehash || err != nil {
		t.Fatalf("Verify = %v, %v, %v", ok, rehash, err)
	}
}

func TestVerify(t *testing.T) {
	h, _ := password.NewHasher(cheap, 2)
	ctx := context.Background()
	enc, _ := h.Hash(ctx, "pw")
	if ok, _, _ := h.Verify(ctx, "wrong", enc); ok {
		t.Error("wrong password accepted")
	}
	if ok, _, err := h.Verify(ctx, "pw", ""); ok || err != nil {
		t.Errorf("dummy hash: ok=%v err=%v, want a plain failure", ok, err)
	}
	if _, _, err := h.Verify(ctx, strings.Repeat("x", 1025), enc); !errors.Is(err, password.ErrTooLong) {
		t.Errorf("1025-byte password: %v", err)
	}
	for _, bad := range []string{"plain", "$argon2id$v=19$m=99999999,t=1,p=1$AAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAA", "$argon2i$v=19$m=64,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA"} {
		if _, _, err := h.Verify(ctx, "pw", bad); !errors.Is(err, password.ErrMalformedHash) {
			t.Errorf("Verify(%q) err = %v, want ErrMalformedHash", bad, err)
		}
	}
}

func TestVerify_OldParamsAskForRehash(t *testing.T) {
	ctx := context.Background()
	old, _ := password.NewHasher(cheap, 1)
	enc, _ := old.Hash(ctx, "pw")
	stronger := cheap
	stronger.Iterations = 2
	h, _ := password.NewHasher(stronger, 1)
	ok, rehash, err := h.Verify(ctx, "pw", enc)
	if !ok || !rehash || err != nil {
		t.Fatalf("Verify = %v, %v, %v; want ok and rehash", ok, rehash, err)
	}
}

func TestHash_WaitsNoLongerThanTheCaller(t *testing.T) {
	h, _ := password.NewHasher(cheap, 1)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := h.Hash(ctx, "pw"); !errors.Is(err, password.ErrBusy) {
		t.Fatalf("Hash with a done context: %v, want ErrBusy", err)
	}
	if _, _, err := h.Verify(ctx, "pw", ""); !errors.Is(err, password.ErrBusy) {
		t.Fatalf("Verify with a done context: %v, want ErrBusy", err)
	}
}

func TestNewHasher_RefusesWeakParams(t *testing.T) {
	if _, err := password.NewHasher(password.Params{Memory: 1, Iterations: 1, Parallelism: 1, SaltLength: 16, KeyLength: 32}, 1); err == nil {
		t.Fatal("weak params accepted")
	}
}
