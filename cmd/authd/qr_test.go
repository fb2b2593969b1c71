package main

import (
	"strings"
	"testing"

	"github.com/boombuler/barcode/qr"
)

// `authd qr` draws the QR code of its input module for module, two rows a
// line, inside a light quiet zone of four modules: read back from the
// half blocks, the picture is qr.Encode's.
func TestQR_DrawsTheCodeModuleForModule(t *testing.T) {
	const uri = "otpauth://totp/authd:alice?algorithm=SHA1&digits=6&issuer=authd&period=30&secret=UQUZMQWQNSEBBEFOIUX45YRSIS4D76HK"
	for _, args := range [][]string{{"qr", uri}, {"qr"}} {
		out, errOut, code := authd(t, t.TempDir(), uri+"\n", args...)
		if code != 0 {
			t.Fatalf("authd %v: exit %d, %s", args, code, errOut)
		}
		want, err := qr.Encode(uri, qr.M, qr.Auto)
		if err != nil {
			t.Fatal(err)
		}
		size := want.Bounds().Dx()
		lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
		if len(lines) != (size+2*qrQuiet+1)/2 {
			t.Fatalf("%d lines for a %d-module code", len(lines), size)
		}
		for row, line := range lines {
			cells := []rune(line)
			if len(cells) != size+2*qrQuiet {
				t.Fatalf("line %d: %d cells, want %d", row, len(cells), size+2*qrQuiet)
			}
			for i, c := range cells {
				x, y := i-qrQuiet, 2*row-qrQuiet
				top := c == '█' || c == '▀'
				bottom := c == '█' || c == '▄'
				for _, m := range []struct {
					y     int
					light bool
				}{{y, top}, {y + 1, bottom}} {
					inside := x >= 0 && m.y >= 0 && x < size && m.y < size
					if wantLight := !inside || !qrDark(want, x, m.y); m.light != wantLight {
						t.Fatalf("module (%d,%d): light %v, want %v", x, m.y, m.light, wantLight)
					}
				}
			}
		}
	}
	if _, _, code := authd(t, t.TempDir(), "", "qr"); code != 2 {
		t.Fatalf("qr without input: exit %d, want 2", code)
	}
}
