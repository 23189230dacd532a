package bluegreen_test

import (
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"
)

// TestReadmeLayoutListsEveryPackage keeps the README's Layout table, the map
// a newcomer reads first, complete: every package of the module (go list
// ./...) must have a row. The table may name a package that does not exist
// yet (one that work in progress is adding); only a missing row fails.
func TestReadmeLayoutListsEveryPackage(t *testing.T) {
	const mod = "github.com/bluegreen/bluegreen"
	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	listed := readmeLayoutPackages(t, string(readme))
	out, err := exec.Command("go", "list", "./...").Output()
	if err != nil {
		t.Fatalf("go list ./...: %v", err)
	}
	for _, pkg := range strings.Fields(string(out)) {
		dir := strings.TrimPrefix(strings.TrimPrefix(pkg, mod), "/")
		if dir == "" {
			dir = "bluegreen"
		}
		if !listed[dir] {
			t.Errorf("package %s has no row in the README's Layout table: add `%s/` with what it holds", pkg, dir)
		}
	}
}

// readmeLayoutPackages is the set of package directories named (in
// backquotes, trailing slash dropped) in the first column of the README's
// "## Layout" table; the root package is listed as `bluegreen`.
func readmeLayoutPackages(t *testing.T, readme string) map[string]bool {
	t.Helper()
	_, section, ok := strings.Cut(readme, "\n## Layout\n")
	if !ok {
		t.Fatal("README.md has no \"## Layout\" section")
	}
	if next := strings.Index(section, "\n## "); next >= 0 {
		section = section[:next]
	}
	code := regexp.MustCompile("`([^`]+)`")
	listed := map[string]bool{}
	for _, line := range strings.Split(section, "\n") {
		cells := strings.Split(line, "|")
		if len(cells) < 3 || !strings.HasPrefix(strings.TrimSpace(line), "|") {
			continue
		}
		for _, m := range code.FindAllStringSubmatch(cells[1], -1) {
			listed[strings.TrimSuffix(m[1], "/")] = true
		}
	}
	if len(listed) == 0 {
		t.Fatal("the README's Layout table lists no package (want rows like | `router/` | ... |)")
	}
	return listed
}
