package token

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"
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
// or has one that differs only in case from a name in known (CheckObject).
func checkMembers(segment string, known []string) error {
	b, err := base64.RawURLEncoding.Strict().DecodeString(segment)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	if err := CheckObject(b, known); err != nil {
		return fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	return nil
}

// CheckObject reports what keeps b from being a JSON object with one
// spelling, as Verify reads a token's header and payload: valid UTF-8, no
// member name twice, none a case variant of a name in known (which
// encoding/json would read as that name). It reads the top-level member
// names only; the values are left to the JSON decoder, which refuses b if
// it is not valid JSON. Other JOSE objects authd reads (package dpop's
// proofs and their keys) hold to the same rule.
func CheckObject(b []byte, known []string) error {
	// JSON is UTF-8 (RFC 8259 section 8.1). encoding/json would read
	// invalid bytes as U+FFFD, so that two tokens differing in them would
	// read alike; PyJWT refuses them. One spelling: refused here too.
	if !utf8.Valid(b) {
		return errors.New("not UTF-8")
	}
	names, err := memberNames(b)
	if err != nil {
		return err
	}
	for i, name := range names {
		for _, other := range names[:i] {
			if other == name {
				return fmt.Errorf("member %q appears twice", name)
			}
		}
		for _, k := range known {
			if name != k && strings.EqualFold(name, k) {
				return fmt.Errorf("member %q is a case variant of %q", name, k)
			}
		}
	}
	return nil
}

// memberNames lists the member names of the JSON object in b, decoded
// (escapes resolved), without decoding the values: it skips strings and
// counts brackets outside them.
func memberNames(b []byte) ([]string, error) {
	i := skipSpace(b, 0)
	if i >= len(b) || b[i] != '{' {
		return nil, errors.New("not a JSON object")
	}
	names := make([]string, 0, 12)
	i = skipSpace(b, i+1)
	if i < len(b) && b[i] == '}' {
		return names, nil
	}
	for {
		i = skipSpace(b, i)
		end, err := stringEnd(b, i)
		if err != nil {
			return nil, err
		}
		name, err := decodeName(b[i:end])
		if err != nil {
			return nil, err
		}
		names = append(names, name)
		i = skipSpace(b, end)
		if i >= len(b) || b[i] != ':' {
			return nil, errors.New("no colon after a member name")
		}
		if i, err = valueEnd(b, skipSpace(b, i+1)); err != nil {
			return nil, err
		}
		i = skipSpace(b, i)
		switch {
		case i < len(b) && b[i] == ',':
			i++
		case i < len(b) && b[i] == '}':
			return names, nil
		default:
			return nil, errors.New("unterminated object")
		}
	}
}

func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// stringEnd returns the index just after the JSON string starting at i.
func stringEnd(b []byte, i int) (int, error) {
	if i >= len(b) || b[i] != '"' {
		return 0, errors.New("a member name is not a string")
	}
	for j := i + 1; j < len(b); j++ {
		switch b[j] {
		case '\\':
			j++
		case '"':
			return j + 1, nil
		}
	}
	return 0, errors.New("unterminated string")
}

// valueEnd returns the index just after the JSON value starting at i:
// strings are skipped whole, brackets counted, scalars read to the next
// delimiter. The value itself is checked later by the JSON decoder.
func valueEnd(b []byte, i int) (int, error) {
	depth := 0
	for j := i; j < len(b); j++ {
		switch b[j] {
		case '"':
			end, err := stringEnd(b, j)
			if err != nil {
				return 0, err
			}
			j = end - 1
		case '{', '[':
			depth++
		case '}', ']':
			if depth == 0 {
				return j, nil
			}
			depth--
		case ',':
			if depth == 0 {
				return j, nil
			}
		}
		if depth == 0 && j+1 < len(b) && (b[j] == '"' || b[j] == '}' || b[j] == ']') && j >= i {
			return j + 1, nil
		}
	}
	return 0, errors.New("unterminated value")
}

// decodeName resolves the escapes of a JSON string literal (a member name
// such as "s\u0075b" is "sub" to every JSON reader), and invalid UTF-8 as
// encoding/json does.
func decodeName(lit []byte) (string, error) {
	if bytes.IndexByte(lit, '\\') < 0 && utf8.Valid(lit) {
		return string(lit[1 : len(lit)-1]), nil
	}
	var name string
	if err := json.Unmarshal(lit, &name); err != nil {
		return "", err
	}
	return name, nil
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

// CheckForm reports whether raw could be a token at all, without decoding
// it: at most MaxLength bytes, three non-empty segments of base64url. It
// returns the error Verify would (ErrTooLarge, ErrMalformed), so that a
// transport can refuse what is no token before reading a call's body.
func CheckForm(raw string) error {
	if len(raw) > MaxLength {
		return ErrTooLarge
	}
	return checkCompact(raw)
}
