package password_test

import (
	"context"
	"fmt"

	"github.com/authd-dev/authd/password"
)

// Hash stores a password as an argon2id PHC string; Verify checks one and
// says whether the stored hash should be replaced (its parameters are not
// the Hasher's any more). Real deployments use password.DefaultParams.
func ExampleHasher() {
	cheap := password.Params{Memory: 64, Iterations: 1, Parallelism: 1, SaltLength: 16, KeyLength: 32}
	h, err := password.NewHasher(cheap, 2)
	if err != nil {
		panic(err)
	}
	ctx := context.Background()
	stored, err := h.Hash(ctx, "correct horse")
	if err != nil {
		panic(err)
	}
	ok, rehash, _ := h.Verify(ctx, "correct horse", stored)
	fmt.Println("right password:", ok, rehash)
	ok, _, _ = h.Verify(ctx, "wrong", stored)
	fmt.Println("wrong password:", ok)
	stronger, _ := password.NewHasher(password.Params{Memory: 128, Iterations: 1, Parallelism: 1, SaltLength: 16, KeyLength: 32}, 2)
	_, rehash, _ = stronger.Verify(ctx, "correct horse", stored)
	fmt.Println("after a parameter change, rehash:", rehash)
	// Output:
	// right password: true false
	// wrong password: false
	// after a parameter change, rehash: true
}
