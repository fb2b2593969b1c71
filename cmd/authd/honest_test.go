package main

import (
	"strings"
	"testing"
)

// `authd qr --help` prints help, as every command's --help does (exit 0),
// rather than the QR code of the text "--help"; after `--` the argument is
// the text, whatever it begins with; another flag is a usage error.
func TestQR_HelpAndFlags(t *testing.T) {
	for _, help := range []string{"-h", "-help", "--help"} {
		out, errOut, code := authd(t, t.TempDir(), "", "qr", help)
		if code != 0 || !strings.Contains(out, "authd qr") || strings.ContainsRune(out, '█') {
			t.Errorf("authd qr %s: exit %d, stdout %q, stderr %q; want its help, exit 0", help, code, out, errOut)
		}
	}
	if out, errOut, code := authd(t, t.TempDir(), "", "qr", "--", "-text"); code != 0 || !strings.ContainsRune(out, '█') {
		t.Errorf("authd qr -- -text: exit %d, %s; want the code of -text", code, errOut)
	}
	if out, errOut, code := authd(t, t.TempDir(), "", "qr", "--size", "3"); code != 2 || out != "" {
		t.Errorf("authd qr --size 3: exit %d, stdout %q, stderr %q; want a usage error", code, out, errOut)
	}
}
