package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bluegreen/bluegreen/internal/clidoc"
)

// TestDocsUpToDate regenerates the CLI reference and the man pages from the
// command tree and fails when the committed docs/cli.md or docs/man differ:
// a changed flag, default or description must come with `make docs`.
func TestDocsUpToDate(t *testing.T) {
	committed := filepath.Join("..", "..", "docs")
	tmp := t.TempDir()
	// The hand-written head of cli.md is kept by the generator: start from
	// the committed file so that only the generated part is compared.
	head, err := os.ReadFile(filepath.Join(committed, clidoc.CLIFile))
	if err != nil {
		t.Fatalf("docs/cli.md: %v (run make docs)", err)
	}
	if err := os.WriteFile(filepath.Join(tmp, clidoc.CLIFile), head, 0o644); err != nil {
		t.Fatal(err)
	}
	var stdout, stderr bytes.Buffer
	if code := run(context.Background(), []string{"docs", "--dir", tmp}, &stdout, &stderr); code != exitOK {
		t.Fatalf("bluegreen docs --dir %s: exit %d: %s%s", tmp, code, stdout.String(), stderr.String())
	}

	want, _ := os.ReadFile(filepath.Join(tmp, clidoc.CLIFile))
	if !bytes.Equal(head, want) {
		t.Errorf("docs/cli.md is out of date: run make docs (first difference: %s)", firstDiff(string(head), string(want)))
	}
	got, wantMan := manFiles(t, filepath.Join(committed, clidoc.ManDir)), manFiles(t, filepath.Join(tmp, clidoc.ManDir))
	for name, w := range wantMan {
		g, ok := got[name]
		switch {
		case !ok:
			t.Errorf("docs/man/%s is missing: run make docs", name)
		case g != w:
			t.Errorf("docs/man/%s is out of date: run make docs (first difference: %s)", name, firstDiff(g, w))
		}
	}
	for name := range got {
		if _, ok := wantMan[name]; !ok {
			t.Errorf("docs/man/%s belongs to no command: run make docs", name)
		}
	}
}

// TestDocsListEveryCommand: every verb a user can run has its section in
// the generated reference, and hidden ones (supervise, docs) do not.
func TestDocsListEveryCommand(t *testing.T) {
	tmp := t.TempDir()
	var stdout, stderr bytes.Buffer
	if code := run(context.Background(), []string{"docs", "--dir", tmp}, &stdout, &stderr); code != exitOK {
		t.Fatalf("bluegreen docs: exit %d: %s", code, stderr.String())
	}
	md, err := os.ReadFile(filepath.Join(tmp, clidoc.CLIFile))
	if err != nil {
		t.Fatal(err)
	}
	for _, verb := range []string{"serve", "switch", "rollback", "deploy", "deployments show", "token create",
		"state backup", "handover", "dns prepare", "lock release"} {
		if !strings.Contains(string(md), "\n## bluegreen "+verb+"\n") {
			t.Errorf("cli.md has no section for bluegreen %s", verb)
		}
	}
	for _, hidden := range []string{"supervise", "docs"} {
		if strings.Contains(string(md), "## bluegreen "+hidden+"\n") {
			t.Errorf("cli.md documents the hidden verb %s", hidden)
		}
	}
	if !strings.Contains(string(md), "| `--timeout duration` | `2m0s` |") {
		t.Errorf("cli.md does not show handover's --timeout default (2m0s)")
	}
	if _, err := os.Stat(filepath.Join(tmp, clidoc.ManDir, "bluegreen-token-create.1")); err != nil {
		t.Errorf("no man page for token create: %v", err)
	}
}

// TestDocsNeedsDir: without --dir the verb is a usage error (exit 2).
func TestDocsNeedsDir(t *testing.T) {
	var stdout, stderr bytes.Buffer
	if code := run(context.Background(), []string{"docs"}, &stdout, &stderr); code != exitUsage {
		t.Fatalf("bluegreen docs: exit %d, want %d (%s)", code, exitUsage, stderr.String())
	}
}

// manFiles reads the man pages in dir by name.
func manFiles(t *testing.T, dir string) map[string]string {
	t.Helper()
	paths, err := filepath.Glob(filepath.Join(dir, "*.1"))
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		out[filepath.Base(p)] = string(b)
	}
	return out
}

// firstDiff names the first line where the committed and the generated
// text differ.
func firstDiff(committed, generated string) string {
	c, g := strings.Split(committed, "\n"), strings.Split(generated, "\n")
	for i := 0; i < len(c) || i < len(g); i++ {
		var cl, gl string
		if i < len(c) {
			cl = c[i]
		}
		if i < len(g) {
			gl = g[i]
		}
		if cl != gl {
			return fmt.Sprintf("line %d: committed %q, generated %q", i+1, cl, gl)
		}
	}
	return "none"
}
