package main

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// README's section "Protect a connect-go service" says its code is copied
// from this module and from the page of examples/web: every go, proto and
// ts block there must stand, line for line, in one of their files, so
// README cannot drift from code that compiles and passes the tests (this
// module's, and e2e/browser's for the page). A block preceded by
// <!-- not copied --> is an illustration of its own.
func TestREADMEIsCopiedFromThisModule(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	var sources []string
	for _, root := range []string{".", "../web/src"} {
		err = filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
			if err != nil || d.IsDir() || !strings.HasSuffix(path, ".go") && !strings.HasSuffix(path, ".proto") && !strings.HasSuffix(path, ".ts") {
				return err
			}
			b, err := os.ReadFile(path)
			sources = append(sources, normalize(string(b)))
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	const section = "## Protect a connect-go service"
	body := sectionOf(string(readme), section)
	if body == "" {
		t.Fatalf("README has no section %q", section)
	}
	checked := map[string]int{}
	for _, m := range codeBlock.FindAllStringSubmatchIndex(body, -1) {
		if strings.HasSuffix(strings.TrimSpace(body[:m[0]]), "<!-- not copied -->") {
			continue
		}
		// Each paragraph of the block (README leaves out comments and
		// joins pieces with a blank line) stands whole in one file.
		for _, para := range strings.Split(strings.TrimSpace(body[m[4]:m[5]]), "\n\n") {
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
				t.Errorf("%s: these lines are in no file of examples/connect or examples/web/src:\n%s", section, para)
			}
		}
		checked[body[m[2]:m[3]]]++
	}
	if checked["go"] == 0 || checked["proto"] == 0 || checked["ts"] == 0 {
		t.Fatalf("blocks checked by language: %v, want go, proto and ts: the README section moved?", checked)
	}
}

var codeBlock = regexp.MustCompile("(?s)```(go|proto|ts)\n(.*?)```")

// sectionOf is README from heading to the next heading.
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
