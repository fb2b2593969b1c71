package accounts

import (
	_ "embed"
	"errors"
	"fmt"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/authd-dev/authd/password"
)

// MinPasswordLength is the fewest characters a new password may have
// (NIST SP 800-63B, 5.1.1.2).
const MinPasswordLength = 8

// ErrCommonPassword is returned for a password on the list of the most
// common ones: the first an attacker tries.
var ErrCommonPassword = errors.New("password is one of the most common passwords: choose another")

//go:embed common-passwords.txt
var commonPasswordList string

// commonPasswords is the list as a set, lower case, built on first use.
var commonPasswords = sync.OnceValue(func() map[string]bool {
	set := map[string]bool{}
	for _, line := range strings.Split(commonPasswordList, "\n") {
		if line = strings.TrimSpace(line); line != "" && !strings.HasPrefix(line, "#") {
			set[strings.ToLower(line)] = true
		}
	}
	return set
})

// ValidatePassword reports what is wrong with a new password, if anything,
// under the policy of NIST SP 800-63B: at least MinPasswordLength
// characters, at most password.MaxLength bytes of UTF-8, not one of the most
// common passwords (a short list shipped in the binary, compared without
// regard to case). No composition rules: length is what makes a password
// strong. Existing passwords are not checked against it: Login accepts any
// password ValidateLoginPassword does.
func ValidatePassword(pw string) error {
	if err := ValidateLoginPassword(pw); err != nil {
		return err
	}
	if n := utf8.RuneCountInString(pw); n < MinPasswordLength {
		return fmt.Errorf("password has %d characters, fewer than %d", n, MinPasswordLength)
	}
	if commonPasswords()[strings.ToLower(pw)] {
		return ErrCommonPassword
	}
	return nil
}

// ValidateLoginPassword reports what is wrong with a password presented to
// log in, if anything: 1 to password.MaxLength bytes of UTF-8. It is looser
// than ValidatePassword so that passwords set before a policy change keep
// working.
func ValidateLoginPassword(pw string) error {
	switch {
	case pw == "":
		return errors.New("password is empty")
	case len(pw) > password.MaxLength:
		return password.ErrTooLong
	case !utf8.ValidString(pw):
		return errors.New("password is not valid UTF-8")
	}
	return nil
}
