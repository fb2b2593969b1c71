package main

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// README's sections "Protect your own service", "Test your service" and
// "Client" say their code is copied from this module: every go and proto
// block there must stand, line for line, in one of this module's files, so
// README cannot drift from code that compiles and passes these tests. A
// block preceded by <!-- not copied --> is an illustration of its own.
func TestREADMEIsCopiedFromThisModule(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	var sources []string
	err = filepath.WalkDir(".", func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || !(strings.HasSuffix(path, ".go") || strings.HasSuffix(path, ".proto") || strings.HasSuffix(path, ".yaml")) {
			return err
		}
		b, err := os.ReadFile(path)
		sources = append(sources, normalize(string(b)))
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	checked := 0
	for _, section := range []string{"## Protect your own service", "## Test your service", "## Client"} {
		body := sectionOf(string(readme), section)
		if body == "" {
			t.Fatalf("README has no section %q", section)
		}
		for _, m := range codeBlock.FindAllStringSubmatchIndex(body, -1) {
			if strings.HasSuffix(strings.TrimSpace(body[:m[0]]), "<!-- not copied -->") {
				continue
			}
			// Each paragraph of the block (README leaves out comments and
			// joins pieces with a blank line) stands whole in one file.
			for _, para := range strings.Split(strings.TrimSpace(body[m[2]:m[3]]), "\n\n") {
				chunk := normalize(para)
				if chunk == "" {
					continue
				}
				found := false
				for _, src := range sources {
					if strings.Contains(src, chunk) {
						found = true
						break
					}
				}
				if !found {
					t.Errorf("%s: these lines are in no file of examples/consumer:\n%s", section, para)
				}
			}
			checked++
		}
	}
	if checked < 4 {
		t.Fatalf("only %d blocks checked: the README sections moved?", checked)
	}
}

var codeBlock = regexp.MustCompile("(?s)```(?:go|proto)\n(.*?)```")

// sectionOf is README from heading to the next heading (subsections such
// as "Roles and scopes" have their own examples).
func sectionOf(readme, heading string) string {
	i := strings.Index(readme, "\n"+heading+"\n")
	if i < 0 {
		return ""
	}
	rest := readme[i+len(heading)+2:]
	if j := strings.Index(rest, "\n#"); j >= 0 {
		rest = rest[:j]
	}
	return rest
}

// normalize trims each line and drops blank and comment-only lines, so
// that indentation inside README's lists, and comments README leaves out,
// do not count.
func normalize(s string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if l = strings.TrimSpace(l); l != "" && !strings.HasPrefix(l, "//") {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
