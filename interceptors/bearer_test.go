package interceptors

import (
	"errors"
	"strings"
	"testing"

	"github.com/authd-dev/authd/wire"
)

func TestParseBearer(t *testing.T) {
	for _, tc := range []struct {
		name    string
		values  []string
		want    string
		noToken bool
	}{
		{"absent", nil, "", true},
		{"empty value", []string{""}, "", true},
		{"bearer", []string{"Bearer abc.def.ghi"}, "abc.def.ghi", false},
		{"lower-case scheme", []string{"bearer abc"}, "abc", false},
		{"upper-case scheme", []string{"BEARER abc"}, "abc", false},
		{"two values", []string{"Bearer a", "Bearer b"}, "", false},
		{"basic", []string{"Basic YWxhZGRpbjpvcGVuc2VzYW1l"}, "", false},
		{"no token", []string{"Bearer "}, "", false},
		{"scheme only", []string{"Bearer"}, "", false},
		{"two spaces", []string{"Bearer  abc"}, "", false},
		{"trailing space", []string{"Bearer abc "}, "", false},
		{"tab", []string{"Bearer\tabc"}, "", false},
		{"bare token", []string{"abc.def.ghi"}, "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseBearer(tc.values)
			if tc.want != "" {
				if err != nil || got != tc.want {
					t.Fatalf("parseBearer = %q, %v; want %q", got, err, tc.want)
				}
				return
			}
			if !errors.Is(err, wire.ErrMissing) {
				t.Fatalf("err = %v, want ErrMissing", err)
			}
			if errors.Is(err, errNoToken) != tc.noToken {
				t.Fatalf("no-token = %v, want %v", errors.Is(err, errNoToken), tc.noToken)
			}
		})
	}
}

// FuzzBearer: any metadata value parses without panic, and whatever comes out
// as a token has no white space and came after a Bearer scheme.
func FuzzBearer(f *testing.F) {
	for _, s := range []string{"Bearer abc", "bearer a.b.c", "Basic x", "", " ", "Bearer  x", "Bearer\x00x", "Bearer \xff"} {
		f.Add(s, "")
	}
	f.Add("Bearer a", "Bearer b")
	f.Fuzz(func(t *testing.T, first, second string) {
		values := []string{first}
		if second != "" {
			values = append(values, second)
		}
		tok, err := parseBearer(values)
		if err != nil {
			if !errors.Is(err, wire.ErrMissing) {
				t.Fatalf("error %v is not ErrMissing", err)
			}
			return
		}
		if len(values) != 1 || tok == "" || strings.ContainsAny(tok, " \t\r\n") || !strings.EqualFold(first[:7], "bearer ") {
			t.Fatalf("parseBearer(%q) accepted %q", values, tok)
		}
	})
}
