package password

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"golang.org/x/crypto/argon2"
	"golang.org/x/sync/semaphore"
	"google.golang.org/grpc/codes"

	"github.com/authd-dev/authd/wire"
)

// MaxLength is the longest password, in bytes, that is ever hashed.
const MaxLength = 1024

// Params are argon2id's cost parameters.
type Params struct {
	Memory      uint32 // KiB
	Iterations  uint32
	Parallelism uint8
	SaltLength  uint32
	KeyLength   uint32
}

// DefaultParams are OWASP's argon2id minimum: 19 MiB, 2 iterations, 1 lane.
var DefaultParams = Params{Memory: 19456, Iterations: 2, Parallelism: 1, SaltLength: 16, KeyLength: 32}

// Errors.
var (
	// ErrTooLong: the password is over MaxLength bytes; it was not hashed.
	ErrTooLong = wire.InvalidArgument("password is longer than %d bytes", MaxLength)
	// ErrBusy: no hashing slot came free in time; the caller is told to
	// retry.
	ErrBusy = wire.NewError(codes.ResourceExhausted, "", "too many concurrent logins, retry later")
	// ErrMalformedHash: a stored hash is not an argon2id PHC string.
	ErrMalformedHash = errors.New("malformed argon2id hash")
)

// Hasher hashes and verifies passwords. At most a fixed number of hashes run
// at once, so a burst of logins cannot exhaust memory: each costs
// Params.Memory KiB while it runs.
type Hasher struct {
	params Params
	slots  *semaphore.Weighted
	dummy  string
}

// NewHasher returns a Hasher that runs at most concurrency hashes at a time.
func NewHasher(p Params, concurrency int) (*Hasher, error) {
	if p.Memory < 8*uint32(p.Parallelism) || p.Iterations < 1 || p.Parallelism < 1 || p.SaltLength < 8 || p.KeyLength < 16 {
		return nil, fmt.Errorf("argon2id parameters too weak or invalid: %+v", p)
	}
	if concurrency < 1 {
		return nil, fmt.Errorf("hash concurrency must be at least 1, got %d", concurrency)
	}
	h := &Hasher{params: p, slots: semaphore.NewWeighted(int64(concurrency))}
	h.dummy = h.encode(make([]byte, p.SaltLength), []byte("authd dummy password"), p)
	return h, nil
}

// MaxWait is the longest a caller waits for a hashing slot.
const MaxWait = 10 * time.Second

// acquire takes a hashing slot, waiting at most MaxWait and at most 80% of
// the time left before ctx's deadline, so that a caller hears ErrBusy (and
// can retry) rather than running into its own deadline.
func (h *Hasher) acquire(ctx context.Context) error {
	wait := MaxWait
	if deadline, ok := ctx.Deadline(); ok {
		wait = min(wait, time.Until(deadline)*8/10)
	}
	ctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	if err := h.slots.Acquire(ctx, 1); err != nil {
		return fmt.Errorf("%w: %w", ErrBusy, err)
	}
	return nil
}

// Hash returns the PHC string of password with a fresh salt.
func (h *Hasher) Hash(ctx context.Context, password string) (string, error) {
	if len(password) > MaxLength {
		return "", ErrTooLong
	}
	salt := make([]byte, h.params.SaltLength)
	_, _ = rand.Read(salt) // crypto/rand.Read never fails (Go 1.24+).
	if err := h.acquire(ctx); err != nil {
		return "", err
	}
	defer h.slots.Release(1)
	return h.encode(salt, []byte(password), h.params), nil
}

// Verify reports whether password matches the PHC string encoded, and
// whether the hash should be replaced because its parameters differ from the
// Hasher's. An encoded of "" checks against a dummy hash and always fails, so
// that an unknown user costs the same time as a wrong password.
func (h *Hasher) Verify(ctx context.Context, password, encoded string) (ok, rehash bool, err error) {
	if len(password) > MaxLength {
		return false, false, ErrTooLong
	}
	dummy := encoded == ""
	if dummy {
		encoded = h.dummy
	}
	p, salt, want, err := decode(encoded)
	if err != nil {
		return false, false, err
	}
	if err := h.acquire(ctx); err != nil {
		return false, false, err
	}
	got := argon2.IDKey([]byte(password), salt, p.Iterations, p.Memory, p.Parallelism, uint32(len(want)))
	h.slots.Release(1)
	ok = subtle.ConstantTimeCompare(got, want) == 1 && !dummy
	return ok, ok && p != h.params, nil
}

func (h *Hasher) encode(salt, password []byte, p Params) string {
	key := argon2.IDKey(password, salt, p.Iterations, p.Memory, p.Parallelism, p.KeyLength)
	b64 := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s",
		argon2.Version, p.Memory, p.Iterations, p.Parallelism, b64.EncodeToString(salt), b64.EncodeToString(key))
}

// decode parses a PHC argon2id string. Its parameters come from the store,
// but are still bounded so a tampered row cannot make a login allocate
// without limit.
func decode(encoded string) (Params, []byte, []byte, error) {
	parts := strings.Split(encoded, "$")
	if len(parts) != 6 || parts[0] != "" || parts[1] != "argon2id" || parts[2] != "v="+strconv.Itoa(argon2.Version) {
		return Params{}, nil, nil, ErrMalformedHash
	}
	var p Params
	for _, kv := range strings.Split(parts[3], ",") {
		name, value, _ := strings.Cut(kv, "=")
		n, err := strconv.ParseUint(value, 10, 32)
		if err != nil {
			return Params{}, nil, nil, ErrMalformedHash
		}
		switch name {
		case "m":
			p.Memory = uint32(n)
		case "t":
			p.Iterations = uint32(n)
		case "p":
			if n > 255 {
				return Params{}, nil, nil, ErrMalformedHash
			}
			p.Parallelism = uint8(n)
		default:
			return Params{}, nil, nil, ErrMalformedHash
		}
	}
	const maxMemory = 1 << 20 // 1 GiB in KiB
	if p.Memory == 0 || p.Memory > maxMemory || p.Iterations == 0 || p.Iterations > 64 || p.Parallelism == 0 {
		return Params{}, nil, nil, ErrMalformedHash
	}
	b64 := base64.RawStdEncoding.Strict()
	salt, err := b64.DecodeString(parts[4])
	if err != nil || len(salt) < 8 {
		return Params{}, nil, nil, ErrMalformedHash
	}
	key, err := b64.DecodeString(parts[5])
	if err != nil || len(key) < 16 || len(key) > 64 {
		return Params{}, nil, nil, ErrMalformedHash
	}
	p.SaltLength, p.KeyLength = uint32(len(salt)), uint32(len(key))
	return p, salt, key, nil
}
