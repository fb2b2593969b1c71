package guard_test

import (
	"strings"
	"testing"

	"github.com/authd-dev/authd/authdtest/tokens"
	"github.com/authd-dev/authd/guard"
	"github.com/authd-dev/authd/wire"
)

// Precheck refuses, with Decide's own refusal, exactly the calls that need
// no key to refuse: a method needing a token called with none, several, a
// scheme other than Bearer, or a token not shaped like one; it lets
// through public calls, optional ones without a token, and anything shaped
// like a token, which only Decide can judge (a forged one among them).
func TestPrecheck_RefusesWhatNeedsNoKeyAsDecideDoes(t *testing.T) {
	iss := tokens.New(t)
	g := newGuard(iss, guard.Config{})
	good := iss.Access(t, "alice", sid)
	forged := good[:len(good)-2] + "AA"
	for _, tc := range []struct {
		name   string
		call   guard.Call
		reason string // "": let through
	}{
		{"public, no token", call(publicMethod, ""), ""},
		{"public, garbage", guard.Call{Method: publicMethod, Authorization: []string{"Bearer ???"}}, ""},
		{"optional, no token", call(optionalMethod, ""), ""},
		{"optional, garbage", guard.Call{Method: optionalMethod, Authorization: []string{"Bearer a b"}}, wire.ReasonTokenMissing},
		{"access, no token", call(accessMethod, ""), wire.ReasonTokenMissing},
		{"access, two values", guard.Call{Method: accessMethod, Authorization: []string{"Bearer " + good, "Bearer " + good}}, wire.ReasonTokenMissing},
		{"access, Basic", guard.Call{Method: accessMethod, Authorization: []string{"Basic YTpi"}}, wire.ReasonTokenMissing},
		{"access, two segments", call(accessMethod, "a.b"), wire.ReasonTokenInvalid},
		{"access, outside base64url", call(accessMethod, "a.b+.c"), wire.ReasonTokenInvalid},
		{"access, too long", call(accessMethod, strings.Repeat("a", 9<<10)), wire.ReasonTokenInvalid},
		{"refresh, no token", call(refreshMethod, ""), wire.ReasonTokenMissing},
		{"undeclared method, no token", call("/test.v1.Other/Method", ""), wire.ReasonTokenMissing},
		{"access, a good token", call(accessMethod, good), ""},
		{"access, a forged token", call(accessMethod, forged), ""},
	} {
		err := g.Precheck(tc.call)
		if tc.reason == "" {
			if err != nil {
				t.Errorf("%s: Precheck refused: %v", tc.name, err)
			}
			continue
		}
		if got := wire.Reason(wire.StatusError(err)); got != tc.reason {
			t.Errorf("%s: Precheck %v (%s), want %s", tc.name, err, got, tc.reason)
		}
		_, derr := g.Decide(bg, tc.call)
		if wire.Reason(wire.StatusError(derr)) != wire.Reason(wire.StatusError(err)) {
			t.Errorf("%s: Precheck says %v, Decide %v", tc.name, err, derr)
		}
	}
}
