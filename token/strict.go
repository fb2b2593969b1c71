package token

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"
)

// One token has one spelling. Go's decoders are lenient where other JOSE
// implementations are not: encoding/base64 skips line breaks inside a
// segment, and encoding/json matches member names case-insensitively, the
// last duplicate winning. Either would let one token be written in many
// ways (each a separate cache entry, a different string in logs and
// blocklists) or let a member such as "SUB" override "sub" here while
// another verifier reads the real one. So the compact form and the JSON
// members are checked before anything trusts them.

// ErrMalformed: the token is not exactly three base64url segments with a
// JSON object in each of the first two, its member names unique and spelt
// as registered.
var ErrMalformed = fmt.Errorf("%w: malformed", ErrInvalid)

// checkCompact refuses anything but three non-empty segments of the
// base64url alphabet ([A-Za-z0-9_-]) joined by two dots.
func checkCompact(raw string) error {
	dots := 0
	start := 0
	for i := 0; i < len(raw); i++ {
		switch c := raw[i]; {
		case c >= 'A' && c <= 'Z', c >= 'a' && c <= 'z', c >= '0' && c <= '9', c == '-', c == '_':
		case c == '.':
			if i == start {
				return fmt.Errorf("%w: empty segment", ErrMalformed)
			}
			dots++
			start = i + 1
		default:
			return fmt.Errorf("%w: byte %#02x outside base64url", ErrMalformed, c)
		}
	}
	if dots != 2 || start == len(raw) {
		return fmt.Errorf("%w: want three non-empty segments", ErrMalformed)
	}
	return nil
}

// headerNames and claimNames are the member names this package reads or
// refuses; a case variant of one is refused, since Go would read it as the
// real one.
var headerNames = append([]string{"alg", "kid", "typ", "cty"}, forbiddenHeaders...)

// checkMembers refuses a segment whose JSON object repeats a member name,
// or has one that differs only in case from a name in known.
func checkMembers(segment string, known []string) error {
	b, err := base64.RawURLEncoding.Strict().DecodeString(segment)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return fmt.Errorf("%w: not a JSON object", ErrMalformed)
	}
	seen := make(map[string]bool, 16)
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return fmt.Errorf("%w: %v", ErrMalformed, err)
		}
		name, _ := t.(string)
		if seen[name] {
			return fmt.Errorf("%w: member %q appears twice", ErrMalformed, name)
		}
		seen[name] = true
		for _, k := range known {
			if name != k && strings.EqualFold(name, k) {
				return fmt.Errorf("%w: member %q is a case variant of %q", ErrMalformed, name, k)
			}
		}
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			return fmt.Errorf("%w: %v", ErrMalformed, err)
		}
	}
	return nil
}

// checkSpelling runs both checks on a compact token.
func checkSpelling(raw string) error {
	if err := checkCompact(raw); err != nil {
		return err
	}
	header, rest, _ := strings.Cut(raw, ".")
	payload, _, _ := strings.Cut(rest, ".")
	if err := checkMembers(header, headerNames); err != nil {
		return fmt.Errorf("header: %w", err)
	}
	if err := checkMembers(payload, registered); err != nil {
		return fmt.Errorf("payload: %w", err)
	}
	return nil
}
