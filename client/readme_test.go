package client_test

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// README's section on binding tokens shows code of this package's
// examples: every go block there stands, line for line, in one of its
// files, so that README cannot drift from code go test compiles and runs.
func TestREADMEBindingSectionIsCopiedFromTheExamples(t *testing.T) {
	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	const heading = "## Binding tokens to a key or a certificate"
	body := string(readme)
	i := strings.Index(body, "\n"+heading+"\n")
	if i < 0 {
		t.Fatalf("README has no section %q", heading)
	}
	body = body[i+len(heading)+2:]
	if j := strings.Index(body, "\n## "); j >= 0 {
		body = body[:j]
	}
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	var sources []string
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		sources = append(sources, collapse(string(b)))
	}
	blocks := regexp.MustCompile("(?s)```go\n(.*?)```").FindAllStringSubmatch(body, -1)
	if len(blocks) == 0 {
		t.Fatal("no go block in the section")
	}
	for _, b := range blocks {
		chunk := collapse(b[1])
		found := false
		for _, src := range sources {
			found = found || strings.Contains(src, chunk)
		}
		if !found {
			t.Errorf("these lines of README are in no file of package client:\n%s", b[1])
		}
	}
}

// collapse trims each line and drops blank ones.
func collapse(s string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if l = strings.TrimSpace(l); l != "" {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
