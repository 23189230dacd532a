package release

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bluegreen/bluegreen"
)

// tree returns what a directory holds: for each path, "file 644 <content>",
// "file 755 <content>", "link <target>" or "dir".
func tree(t *testing.T, dir string) map[string]string {
	t.Helper()
	got := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || p == dir {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		info, err := d.Info()
		if err != nil {
			return err
		}
		switch {
		case d.Type()&fs.ModeSymlink != 0:
			target, err := os.Readlink(p)
			got[rel] = "link " + target
			return err
		case d.IsDir():
			got[rel] = "dir"
		default:
			b, err := os.ReadFile(p)
			perm := "644"
			if info.Mode()&0o100 != 0 {
				perm = "755"
			}
			got[rel] = "file " + perm + " " + string(b)
			return err
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return got
}

// commitTree returns what the commit sha of the source holds, in the form
// tree uses, read with git ls-tree and git cat-file.
func commitTree(src *source, sha string) map[string]string {
	want := map[string]string{}
	for line := range strings.SplitSeq(src.git("ls-tree", "-r", "-t", sha), "\n") {
		meta, name, _ := strings.Cut(line, "\t")
		f := strings.Fields(meta) // mode type object
		switch f[0] {
		case "040000":
			want[name] = "dir"
		case "120000":
			want[name] = "link " + src.git("cat-file", "blob", f[2])
		case "100755":
			want[name] = "file 755 " + src.git("cat-file", "blob", f[2]) + "\n"
		default:
			want[name] = "file 644 " + src.git("cat-file", "blob", f[2]) + "\n"
		}
	}
	return want
}

func TestCheckoutWritesTheCommitTree(t *testing.T) {
	src := newSource(t)
	r := openRepo(t, src.dir)
	ctx := context.Background()
	for _, ref := range []string{"production", "green"} {
		c, err := r.Fetch(ctx, ref)
		if err != nil {
			t.Fatal(err)
		}
		dest := filepath.Join(t.TempDir(), "releases", "green", ref)
		if err := r.Checkout(ctx, c.SHA, dest); err != nil {
			t.Fatalf("Checkout(%s): %v", ref, err)
		}
		got, want := tree(t, dest), commitTree(src, c.SHA)
		if len(got) != len(want) {
			t.Errorf("%s: checkout has %d entries, commit has %d:\ngot  %q\nwant %q", ref, len(got), len(want), got, want)
		}
		for name, w := range want {
			if got[name] != w {
				t.Errorf("%s: %s = %q, want %q", ref, name, got[name], w)
			}
		}
		// Committed content only; export attributes do not apply.
		if strings.Contains(got["app.txt"], "uncommitted") || got["dirty.txt"] != "" {
			t.Errorf("%s: checkout contains the working tree's uncommitted files", ref)
		}
		if got["secret.txt"] == "" || got["subst.txt"] != "file 644 $Format:%H$\n" {
			t.Errorf("%s: export-ignore/export-subst changed the checkout: %q %q", ref, got["secret.txt"], got["subst.txt"])
		}
		if fi, err := os.Stat(dest); err != nil || fi.Mode().Perm() != 0o755 {
			t.Errorf("%s: release directory mode = %v, %v; want 0755", ref, fi.Mode(), err)
		}
		if exists(filepath.Join(dest, ".git")) {
			t.Errorf("%s: the release directory has a .git entry", ref)
		}
	}
}

func TestCheckoutRefusals(t *testing.T) {
	src := newSource(t)
	r := openRepo(t, src.dir)
	ctx := context.Background()
	c, err := r.Fetch(ctx, "production")
	if err != nil {
		t.Fatal(err)
	}
	parent := t.TempDir()

	existing := filepath.Join(parent, "existing")
	if err := os.Mkdir(existing, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := r.Checkout(ctx, c.SHA, existing); !errors.Is(err, fs.ErrExist) {
		t.Errorf("Checkout into an existing directory = %v, want fs.ErrExist", err)
	}
	for _, sha := range []string{"", c.SHA[:12], strings.ToUpper(c.SHA), "--output=/tmp/x", c.SHA + "0"} {
		wantCode(t, r.Checkout(ctx, sha, filepath.Join(parent, "bad")), bluegreen.EINVALID)
	}
	wantCode(t, r.Checkout(ctx, strings.Repeat("d", 40), filepath.Join(parent, "unknown")), bluegreen.ENOTFOUND)
	if entries, _ := os.ReadDir(parent); len(entries) != 1 {
		t.Errorf("refused checkouts left entries in %s: %v", parent, entries)
	}
}

// TestCheckoutFailureRemovesPartialTree makes git archive stop half-way (a
// wrapper cuts its output and fails) and checks nothing is left behind.
func TestCheckoutFailureRemovesPartialTree(t *testing.T) {
	src := newSource(t)
	for i := range 20 { // enough data that the cut lands mid-archive
		src.write(filepath.Join("big", string(rune('a'+i))+".txt"), strings.Repeat("x", 4096), 0o644)
	}
	src.commit("big files")
	r := openRepo(t, src.dir)
	ctx := context.Background()
	c, err := r.Fetch(ctx, "production")
	if err != nil {
		t.Fatal(err)
	}
	realGit := r.gitBin
	gitLogger(t, r, `case "$*" in *" archive "*) "`+realGit+`" "$@" | head -c 20000; exit 1;; esac`)
	parent := t.TempDir()
	dest := filepath.Join(parent, "release")
	err = r.Checkout(ctx, c.SHA, dest)
	if err == nil {
		t.Fatal("Checkout succeeded with a truncated archive")
	}
	if entries, _ := os.ReadDir(parent); len(entries) != 0 {
		t.Fatalf("failed checkout left %v in %s (error: %v)", entries, parent, err)
	}
}
