package release

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bluegreen/bluegreen"
)

func TestArchiveIsTheCheckoutTree(t *testing.T) {
	src := newSource(t)
	r := openRepo(t, src.dir)
	ctx := context.Background()
	for _, ref := range []string{"production", "green"} {
		c, err := r.Fetch(ctx, ref)
		if err != nil {
			t.Fatal(err)
		}
		dest := filepath.Join(t.TempDir(), "checkout")
		if err := r.Checkout(ctx, c.SHA, dest); err != nil {
			t.Fatal(err)
		}
		var buf bytes.Buffer
		if err := r.Archive(ctx, c.SHA, &buf); err != nil {
			t.Fatalf("Archive(%s): %v", ref, err)
		}
		extracted := t.TempDir()
		if err := extractTar(tar.NewReader(&buf), extracted); err != nil {
			t.Fatalf("extracting the archive of %s: %v", ref, err)
		}
		got, want := tree(t, extracted), tree(t, dest)
		if len(got) != len(want) || len(want) == 0 {
			t.Errorf("%s: archive has %d entries, checkout %d:\ngot  %q\nwant %q", ref, len(got), len(want), got, want)
		}
		for name, w := range want {
			if got[name] != w {
				t.Errorf("%s: %s = %q in the archive, %q in the checkout", ref, name, got[name], w)
			}
		}
	}
}

func TestArchiveRefusesBeforeGitRuns(t *testing.T) {
	src := newSource(t)
	r := openRepo(t, src.dir)
	gitRuns := gitLogger(t, r, "")
	c, err := r.Fetch(context.Background(), "production")
	if err != nil {
		t.Fatal(err)
	}
	before := gitRuns()
	for _, sha := range []string{c.SHA[:12], strings.ToUpper(c.SHA), "--output=/tmp/x", "HEAD", c.SHA + "^{tree}", ""} {
		var buf bytes.Buffer
		wantCode(t, r.Archive(context.Background(), sha, &buf), bluegreen.EINVALID)
		if buf.Len() != 0 {
			t.Errorf("Archive(%q) wrote %d bytes", sha, buf.Len())
		}
	}
	if after := gitRuns(); after != before {
		t.Errorf("git ran for refused shas:\n%s", strings.TrimPrefix(after, before))
	}

	var buf bytes.Buffer
	wantCode(t, r.Archive(context.Background(), strings.Repeat("ab", 20), &buf), bluegreen.ENOTFOUND)
	if buf.Len() != 0 {
		t.Errorf("a missing commit wrote %d bytes", buf.Len())
	}
}

// failWriter fails every write, as a client that went away.
type failWriter struct{}

var errGone = errors.New("client gone")

func (failWriter) Write([]byte) (int, error) { return 0, errGone }

func TestArchiveStopsOnAWriteError(t *testing.T) {
	src := newSource(t)
	r := openRepo(t, src.dir)
	c, err := r.Fetch(context.Background(), "production")
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Archive(context.Background(), c.SHA, failWriter{}); !errors.Is(err, errGone) {
		t.Fatalf("Archive into a failing writer: %v, want %v", err, errGone)
	}
}
