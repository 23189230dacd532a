package release

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bluegreen/bluegreen"
)

func TestFetchResolvesBranchTagAndSHA(t *testing.T) {
	src := newSource(t)
	prod := src.git("rev-parse", "production")
	green := src.git("rev-parse", "green")
	r := openRepo(t, src.dir)
	ctx := context.Background()

	for _, tc := range []struct {
		ref, sha, subject string
		time              time.Time
	}{
		{"production", prod, "first commit", base.Add(time.Minute)},
		{"green", green, "green change", base.Add(2 * time.Minute)},
		{"refs/heads/green", green, "green change", base.Add(2 * time.Minute)},
		{"v1.0.0", prod, "first commit", base.Add(time.Minute)}, // annotated tag, peeled
		{"refs/tags/v1.0.0", prod, "first commit", base.Add(time.Minute)},
		{green, green, "green change", base.Add(2 * time.Minute)},
		{green[:7], green, "green change", base.Add(2 * time.Minute)},
		{strings.ToUpper(prod[:10]), prod, "first commit", base.Add(time.Minute)},
	} {
		c, err := r.Fetch(ctx, tc.ref)
		if err != nil {
			t.Errorf("Fetch(%q): %v", tc.ref, err)
			continue
		}
		want := Commit{SHA: tc.sha, Ref: tc.ref, Subject: tc.subject, Author: "Ada Author <ada@example.com>", Time: tc.time}
		if c.SHA != want.SHA || c.Ref != want.Ref || c.Subject != want.Subject || c.Author != want.Author || !c.Time.Equal(want.Time) {
			t.Errorf("Fetch(%q) = %+v, want %+v", tc.ref, c, want)
		}
	}
}

func TestFetchUnknownRef(t *testing.T) {
	src := newSource(t)
	r := openRepo(t, src.dir)
	for _, ref := range []string{"nope", "feature/none", "refs/heads/nope", "deadbeef", strings.Repeat("d", 40)} {
		_, err := r.Fetch(context.Background(), ref)
		wantCode(t, err, bluegreen.ENOTFOUND)
		if !strings.Contains(bluegreen.ErrorMessage(err), ref) {
			t.Errorf("Fetch(%q) error %q does not name the ref", ref, bluegreen.ErrorMessage(err))
		}
	}
}

func TestFetchSeesChangesInTheSource(t *testing.T) {
	src := newSource(t)
	r := openRepo(t, src.dir)
	ctx := context.Background()
	first, err := r.Fetch(ctx, "production")
	if err != nil {
		t.Fatal(err)
	}

	next := src.commit("second commit") // includes the working tree edits
	c, err := r.Fetch(ctx, "production")
	if err != nil {
		t.Fatal(err)
	}
	if c.SHA != next || c.SHA == first.SHA || c.Subject != "second commit" {
		t.Fatalf("after a new commit Fetch = %+v, want %s (was %s)", c, next, first.SHA)
	}

	// A moved tag follows, a deleted branch disappears (prune).
	src.git("tag", "-f", "-a", "-m", "moved", "v1.0.0", next)
	src.git("branch", "-D", "green")
	if c, err := r.Fetch(ctx, "v1.0.0"); err != nil || c.SHA != next {
		t.Fatalf("Fetch(v1.0.0) after moving the tag = %+v, %v; want %s", c, err, next)
	}
	_, err = r.Fetch(ctx, "green")
	wantCode(t, err, bluegreen.ENOTFOUND)
}

func TestFetchUnreachableRemote(t *testing.T) {
	src := newSource(t)
	r := openRepo(t, src.dir)
	if err := os.RemoveAll(src.dir); err != nil {
		t.Fatal(err)
	}
	_, err := r.Fetch(context.Background(), "production")
	wantCode(t, err, bluegreen.EUNAVAILABLE)
	if !strings.Contains(bluegreen.ErrorMessage(err), src.dir) {
		t.Errorf("error %q does not name the repository", bluegreen.ErrorMessage(err))
	}
}

func TestFetchCancelled(t *testing.T) {
	src := newSource(t)
	r := openRepo(t, src.dir)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := r.Fetch(ctx, "production")
	if err == nil || !strings.Contains(err.Error(), "context canceled") {
		t.Fatalf("Fetch with a cancelled context = %v, want a context error", err)
	}
}

func TestOpenReusesTheCache(t *testing.T) {
	src := newSource(t)
	dir := filepath.Join(t.TempDir(), "repo.git")
	ctx := context.Background()
	r, err := Open(ctx, src.dir, dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	want, err := r.Fetch(ctx, "green")
	if err != nil {
		t.Fatal(err)
	}
	// Reopen with the source gone: the cache still holds the commit.
	other := newSource(t)
	other.commit("unrelated")
	r2, err := Open(ctx, other.dir, dir, nil)
	if err != nil {
		t.Fatalf("reopening the cache: %v", err)
	}
	if _, err := r2.run(ctx, "cat-file", "-e", want.SHA+"^{commit}"); err != nil {
		t.Fatalf("commit %s is gone from the reopened cache: %v", want.SHA, err)
	}
	url, err := r2.run(ctx, "config", "--get", "remote.origin.url")
	if err != nil || url != other.dir {
		t.Fatalf("remote URL after reopening = %q, %v; want %q", url, err, other.dir)
	}
}

func TestOpenRefusesBadLocations(t *testing.T) {
	tmp := t.TempDir()
	marker := filepath.Join(tmp, "marker")
	notRepo := filepath.Join(tmp, "notrepo")
	if err := os.MkdirAll(notRepo, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(notRepo, "file"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for _, url := range []string{
		"",
		"--upload-pack=touch " + marker,
		"-oProxyCommand=touch " + marker,
		"ext::sh -c touch% " + marker,
		"fd::3",
		"ssh://-oProxyCommand=touch/x",
		"-host:repo",
		"host:-repo",
		"ftp://example.com/repo.git",
		"http://example.com/repo.git", // plain http: tampering and clear credentials
		"https://",
		"https://example.com/a\nb",
		filepath.Join(tmp, "missing"),
		tmp, // a directory, not a repository
		"file://" + tmp,
	} {
		_, err := Open(ctx, url, filepath.Join(tmp, "cache.git"), nil)
		wantCode(t, err, bluegreen.EINVALID)
	}
	if exists(marker) {
		t.Fatal("a refused repository URL ran a command")
	}
	src := newSource(t)
	_, err := Open(ctx, src.dir, notRepo, nil)
	wantCode(t, err, bluegreen.EINVALID)

	// A password in the URL never shows in messages.
	r, err := Open(ctx, "https://user:s3cret@127.0.0.1:1/app.git", filepath.Join(tmp, "pw.git"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(r.URL(), "s3cret") {
		t.Errorf("URL() = %q shows the password", r.URL())
	}
	_, err = r.Fetch(ctx, "main")
	wantCode(t, err, bluegreen.EUNAVAILABLE)
	if strings.Contains(err.Error(), "s3cret") {
		t.Errorf("fetch error %q shows the password", err)
	}
}

// TestConcurrentUse runs fetches and checkouts at once on one Repo (run with
// -race); each must succeed with the right result.
func TestConcurrentUse(t *testing.T) {
	src := newSource(t)
	r := openRepo(t, src.dir)
	ctx := context.Background()
	first, err := r.Fetch(ctx, "production")
	if err != nil {
		t.Fatal(err)
	}
	green := src.git("rev-parse", "green")
	parent := t.TempDir()
	errs := make(chan error, 4)
	for i := range 2 {
		go func() {
			c, err := r.Fetch(ctx, "green")
			if err == nil && c.SHA != green {
				err = fmt.Errorf("Fetch(green) = %s, want %s", c.SHA, green)
			}
			errs <- err
		}()
		go func() {
			errs <- r.Checkout(ctx, first.SHA, filepath.Join(parent, fmt.Sprint(i)))
		}()
	}
	for range 4 {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
}
