package main

import (
	"flag"
	"os"
	"slices"
	"strings"
	"testing"
)

// docs/configuration.md's flag table is the commands' flag sets: every
// flag of every command is in it, under exactly the commands that take it,
// with its default; and it names no flag that does not exist.
func TestConfigurationReferenceIsTheFlagSets(t *testing.T) {
	serveFS, _ := serveFlags()
	userFS, _ := userFlags()
	clientFS, _ := clientFlags()
	keysFS, _ := keysFlags()
	sets := map[string]*flag.FlagSet{"serve": serveFS, "user": userFS, "client": clientFS, "keys": keysFS}

	doc, err := os.ReadFile("../../docs/configuration.md")
	if err != nil {
		t.Fatal(err)
	}
	type row struct {
		commands []string
		def      string
	}
	rows := map[string]row{}
	for _, line := range strings.Split(string(doc), "\n") {
		cells := strings.Split(line, "|")
		if len(cells) < 5 || !strings.HasPrefix(strings.TrimSpace(cells[1]), "`--") {
			continue
		}
		commands := strings.Fields(cells[2])
		defs := strings.Split(cells[3], ",")
		for i, name := range strings.Split(cells[1], ",") {
			name = strings.Trim(strings.TrimSpace(name), "`")
			def := strings.TrimSpace(defs[min(i, len(defs)-1)])
			rows[strings.TrimPrefix(name, "--")] = row{commands: commands, def: def}
		}
	}
	seen := map[string]bool{}
	for cmd, fs := range sets {
		fs.VisitAll(func(f *flag.Flag) {
			seen[f.Name] = true
			r, ok := rows[f.Name]
			switch {
			case !ok:
				t.Errorf("authd %s --%s is not in docs/configuration.md", cmd, f.Name)
				return
			case !slices.Contains(r.commands, cmd):
				t.Errorf("docs/configuration.md: --%s does not list %s, which takes it", f.Name, cmd)
			}
			if f.DefValue != "" && f.Name != "hash-concurrency" && r.def != "`"+f.DefValue+"`" {
				t.Errorf("docs/configuration.md: --%s defaults to %s; the flag's default is %q", f.Name, r.def, f.DefValue)
			}
		})
	}
	for name, r := range rows {
		if !seen[name] {
			t.Errorf("docs/configuration.md lists --%s, which no command has", name)
		}
		for _, cmd := range r.commands {
			if fs, ok := sets[cmd]; !ok || fs.Lookup(name) == nil {
				t.Errorf("docs/configuration.md: authd %s has no --%s", cmd, name)
			}
		}
	}
}
