package spell_test

import (
	"testing"

	"github.com/authd-dev/authd/internal/spell"
)

func TestClosest(t *testing.T) {
	for _, tc := range []struct {
		word       string
		candidates []string
		want       string
		ok         bool
	}{
		{"acess-ttl", []string{"access-ttl", "refresh-ttl", "addr"}, "access-ttl", true},
		{"refersh-ttl", []string{"access-ttl", "refresh-ttl"}, "refresh-ttl", true},
		{"ROTATE", []string{"list", "rotate", "prune"}, "rotate", true},
		{"auth.v1.AuthService/Login", []string{"/auth.v1.AuthService/Login", "/auth.v1.AuthService/Logout"}, "/auth.v1.AuthService/Login", true},
		{"frobnicate", []string{"serve", "user", "keys", "client"}, "", false},
		{"x", nil, "", false},
	} {
		got, ok := spell.Closest(tc.word, tc.candidates)
		if got != tc.want || ok != tc.ok {
			t.Errorf("Closest(%q) = %q, %v; want %q, %v", tc.word, got, ok, tc.want, tc.ok)
		}
	}
}
