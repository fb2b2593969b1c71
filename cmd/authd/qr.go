package main

import (
	"bufio"
	"fmt"
	"image"
	"io"
	"strings"

	"github.com/boombuler/barcode/qr"
)

// maxQRInput bounds what `authd qr` encodes: an otpauth:// URI is a few
// hundred bytes.
const maxQRInput = 1024

// qrUsage is the help of `authd qr`.
const qrUsage = `Usage:
  authd qr [TEXT]     print TEXT (or a line of standard input) as a QR code: EnrollTOTP's
                      uri, for an authenticator app (... EnrollTOTP | jq -r .uri | authd qr)
`

// qrCommand prints its argument (or the first line of standard input) as a
// QR code in the terminal, for an authenticator app to scan: the uri of
// EnrollTOTP (`grpcurl … EnrollTOTP | jq -r .uri | authd qr`).
func qrCommand(args []string, stdin io.Reader, stdout io.Writer) error {
	// No flags: the help, or after "--" the text, even one beginning
	// with "-"; any other flag is a mistake, not text to encode.
	if len(args) > 0 {
		switch a := args[0]; {
		case a == "--":
			args = args[1:]
		case a == "-h" || a == "-help" || a == "--help":
			return &helpRequest{text: qrUsage}
		case strings.HasPrefix(a, "-"):
			return fmt.Errorf("%w: qr takes no flag %s", errUsage, a)
		}
	}
	var text string
	switch len(args) {
	case 0:
		line, err := bufio.NewReader(io.LimitReader(stdin, maxQRInput+1)).ReadString('\n')
		if err != nil && err != io.EOF {
			return err
		}
		text = strings.TrimRight(line, "\r\n")
	case 1:
		text = args[0]
	default:
		return fmt.Errorf("%w: qr takes one argument, or a line on standard input", errUsage)
	}
	if text == "" || len(text) > maxQRInput {
		return fmt.Errorf("%w: qr: want 1 to %d bytes (an otpauth:// URI)", errUsage, maxQRInput)
	}
	code, err := qr.Encode(text, qr.M, qr.Auto)
	if err != nil {
		return err
	}
	_, err = io.WriteString(stdout, renderQR(func(x, y int) bool { return qrDark(code, x, y) }, code.Bounds().Dx()))
	return err
}

// qrQuiet is the light margin around a QR code that scanners need (four
// modules).
const qrQuiet = 4

// renderQR draws a size×size QR code, dark(x, y) telling its modules, two
// rows of modules per line of text with half blocks, dark modules as
// spaces on a light margin (so a dark terminal shows it as scanners
// expect: dark on light).
func renderQR(dark func(x, y int) bool, size int) string {
	light := func(x, y int) bool {
		if x < 0 || y < 0 || x >= size || y >= size {
			return true // the quiet zone
		}
		return !dark(x, y)
	}
	var b strings.Builder
	for y := -qrQuiet; y < size+qrQuiet; y += 2 {
		for x := -qrQuiet; x < size+qrQuiet; x++ {
			top, bottom := light(x, y), light(x, y+1)
			switch {
			case top && bottom:
				b.WriteRune('█')
			case top:
				b.WriteRune('▀')
			case bottom:
				b.WriteRune('▄')
			default:
				b.WriteRune(' ')
			}
		}
		b.WriteByte('\n')
	}
	return b.String()
}

// qrDark reports whether the module at x, y of img (one pixel a module,
// as qr.Encode draws it) is dark.
func qrDark(img image.Image, x, y int) bool {
	min := img.Bounds().Min
	r, g, b, _ := img.At(min.X+x, min.Y+y).RGBA()
	return r+g+b == 0
}
