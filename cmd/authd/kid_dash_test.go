package main

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/authd-dev/authd/keys"
)

// One key id in 64 begins with "-". An operator revoking such a key in a
// hurry types it as it is listed, with or without "--", and the key is
// revoked; it is never read as an unknown flag.
func TestE2E_KeysRevokeTakesAKidThatBeginsWithADash(t *testing.T) {
	t.Parallel()
	for _, withDashes := range []bool{false, true} {
		data := t.TempDir()
		dir := filepath.Join(data, "keys")
		addKeyFile(t, dir, time.Now().Add(-time.Hour)) // stays current
		var dashed keys.Key
		for {
			k, err := keys.NewKey(time.Now().Add(-2 * time.Hour))
			if err != nil {
				t.Fatal(err)
			}
			if strings.HasPrefix(k.ID, "-") {
				dashed = k
				break
			}
		}
		if err := keys.Dir(dir).Add(context.Background(), dashed); err != nil {
			t.Fatal(err)
		}
		args := []string{"keys", "revoke", dashed.ID}
		if withDashes {
			args = []string{"keys", "revoke", "--", dashed.ID}
		}
		out, errOut, code := authd(t, data, "", args...)
		if code != 0 {
			t.Fatalf("%v: exit %d: %s", args, code, errOut)
		}
		if !strings.Contains(out, dashed.ID) {
			t.Errorf("%v printed %q; want the key id", args, out)
		}
		list, _, _ := authd(t, data, "", "keys", "list")
		if strings.Contains(list, dashed.ID) {
			t.Errorf("%v: the key is still listed:\n%s", args, list)
		}
	}
	// A mistyped flag is still a usage error, not a key id.
	if _, errOut, code := authd(t, t.TempDir(), "", "keys", "revoke", "--nwo", "x"); code != 2 || !strings.Contains(errOut, "unknown flag") {
		t.Errorf("a mistyped flag: exit %d, %s", code, errOut)
	}
}
