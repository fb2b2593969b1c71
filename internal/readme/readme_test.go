package readme

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// copied are README's sections whose code is copied, the directories
// (from the repository's root) it is copied from, and the languages each
// must show at least once (so that a moved section fails rather than
// checks nothing).
var copied = []struct {
	sections []string
	roots    []string
	langs    []string
}{
	{[]string{"## Protect your own service", "## Test your service", "## Client"}, []string{"examples/consumer"}, []string{"go", "proto"}},
	{[]string{"## Protect a connect-go service"}, []string{"examples/connect", "examples/web/src"}, []string{"go", "proto", "ts"}},
	{[]string{"## Binding tokens to a key or a certificate"}, []string{"client"}, []string{"go"}},
}

var codeBlock = regexp.MustCompile("(?s)```(go|proto|ts)\n(.*?)```")

// Each paragraph of a block (README leaves out comments and joins pieces
// with a blank line) stands whole in one file of the section's roots. A
// block preceded by <!-- not copied --> is an illustration of its own.
func TestREADMEIsCopiedFromCode(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range copied {
		sources := sourcesIn(t, c.roots)
		checked := map[string]int{}
		for _, section := range c.sections {
			body := sectionOf(string(readme), section)
			if body == "" {
				t.Fatalf("README has no section %q", section)
			}
			for _, m := range codeBlock.FindAllStringSubmatchIndex(body, -1) {
				if strings.HasSuffix(strings.TrimSpace(body[:m[0]]), "<!-- not copied -->") {
					continue
				}
				for _, para := range strings.Split(strings.TrimSpace(body[m[4]:m[5]]), "\n\n") {
					chunk := normalize(para)
					if chunk != "" && !slices.ContainsFunc(sources, func(src string) bool { return strings.Contains(src, chunk) }) {
						t.Errorf("%s: these lines are in no file of %v:\n%s", section, c.roots, para)
					}
				}
				checked[body[m[2]:m[3]]]++
			}
		}
		for _, lang := range c.langs {
			if checked[lang] == 0 {
				t.Errorf("%v: no %s block checked (%v): the README section moved?", c.sections, lang, checked)
			}
		}
	}
}

// sourcesIn reads the go, proto, ts and yaml files under roots,
// normalized.
func sourcesIn(t *testing.T, roots []string) []string {
	t.Helper()
	var sources []string
	for _, root := range roots {
		err := filepath.WalkDir(filepath.Join("../..", root), func(path string, d os.DirEntry, err error) error {
			if err != nil || d.IsDir() || !slices.Contains([]string{".go", ".proto", ".ts", ".yaml"}, filepath.Ext(path)) {
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
	return sources
}

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
// that README may indent differently and leave comments out.
func normalize(s string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if l = strings.TrimSpace(l); l != "" && !strings.HasPrefix(l, "//") {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
