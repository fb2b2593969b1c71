package accounts_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/authd-dev/authd/accounts"
	"github.com/authd-dev/authd/password"
)

func TestValidatePassword_NISTPolicy(t *testing.T) {
	for _, tc := range []struct {
		pw     string
		wantOK bool
	}{
		{"", false},
		{"seven c", false},
		{"eight ch", true},
		{"日本語のパスワード", true}, // 9 characters, 27 bytes
		{"日本語パスワ", false},   // 6 characters, 18 bytes
		{"password", false},
		{"PassWord1", false},
		{"qwertyuiop", false},
		{"correct horse battery staple", true},
		{strings.Repeat("x", password.MaxLength), true},
		{strings.Repeat("x", password.MaxLength+1), false},
		{"bad utf8 \xff", false},
	} {
		err := accounts.ValidatePassword(tc.pw)
		if (err == nil) != tc.wantOK {
			t.Errorf("ValidatePassword(%.20q) = %v; want ok %v", tc.pw, err, tc.wantOK)
		}
	}
	if err := accounts.ValidatePassword("iloveyou"); !errors.Is(err, accounts.ErrCommonPassword) {
		t.Errorf("a common password: %v; want ErrCommonPassword", err)
	}
}

func TestValidateLoginPassword_AcceptsPasswordsSetBeforeThePolicy(t *testing.T) {
	for _, pw := range []string{"pw", "password", "x"} {
		if err := accounts.ValidateLoginPassword(pw); err != nil {
			t.Errorf("ValidateLoginPassword(%q) = %v; want nil", pw, err)
		}
	}
	for _, pw := range []string{"", strings.Repeat("x", password.MaxLength+1), "\xff"} {
		if accounts.ValidateLoginPassword(pw) == nil {
			t.Errorf("ValidateLoginPassword(%.20q) = nil; want an error", pw)
		}
	}
}
