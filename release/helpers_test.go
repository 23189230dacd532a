package release

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bluegreen/bluegreen"
)

// TestMain points HOME at an empty directory so that neither the tests' own
// git commands nor the Repo under test read the machine's git configuration.
func TestMain(m *testing.M) {
	home, err := os.MkdirTemp("", "release-test-home-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	os.Setenv("HOME", home)
	os.Setenv("XDG_CONFIG_HOME", filepath.Join(home, ".config"))
	os.Setenv("GIT_CONFIG_NOSYSTEM", "1")
	code := m.Run()
	os.RemoveAll(home)
	os.Exit(code)
}

// source is a real git repository with a working tree, the "app" we deploy.
type source struct {
	t   *testing.T
	dir string
	n   int // commits made, to give each its own time
}

// base is the committer time of the first commit; each later commit is one
// minute after the previous one.
var base = time.Date(2024, 3, 1, 12, 0, 0, 0, time.UTC)

// newSource makes a repository whose production branch has a regular file, an
// executable, a nested file, a symlink, a file marked export-ignore and an
// annotated tag v1.0.0; branch green has one more commit; the working tree has
// uncommitted changes that must never be deployed.
func newSource(t *testing.T) *source {
	t.Helper()
	s := &source{t: t, dir: filepath.Join(t.TempDir(), "app")}
	s.git("init", "--quiet", "-b", "production", s.dir)
	s.write("app.txt", "version 1\n", 0o644)
	s.write("run.sh", "#!/bin/sh\necho hi\n", 0o755)
	s.write("sub/dir/nested.txt", "nested\n", 0o644)
	s.write(".gitattributes", "secret.txt export-ignore\nsubst.txt export-subst\n", 0o644)
	s.write("secret.txt", "kept\n", 0o644)
	s.write("subst.txt", "$Format:%H$\n", 0o644)
	if err := os.Symlink("app.txt", filepath.Join(s.dir, "link")); err != nil {
		t.Fatal(err)
	}
	s.commit("first commit")
	s.git("tag", "-a", "-m", "release 1", "v1.0.0")
	s.git("checkout", "--quiet", "-b", "green")
	s.write("app.txt", "version 2 (green)\n", 0o644)
	s.commit("green change")
	s.git("checkout", "--quiet", "production")
	s.write("app.txt", "uncommitted edit\n", 0o644)
	s.write("dirty.txt", "untracked\n", 0o644)
	return s
}

// git runs git in the source with a clean environment and fixed identity and
// dates, and returns its trimmed stdout.
func (s *source) git(args ...string) string {
	s.t.Helper()
	cmd := exec.Command("git", args...)
	if _, err := os.Stat(s.dir); err == nil {
		cmd.Dir = s.dir
	}
	when := base.Add(time.Duration(s.n) * time.Minute).Format(time.RFC3339)
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "GIT_") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env,
		"GIT_CONFIG_NOSYSTEM=1",
		"GIT_AUTHOR_NAME=Ada Author", "GIT_AUTHOR_EMAIL=ada@example.com", "GIT_AUTHOR_DATE="+when,
		"GIT_COMMITTER_NAME=Cy Committer", "GIT_COMMITTER_EMAIL=cy@example.com", "GIT_COMMITTER_DATE="+when,
	)
	out, err := cmd.CombinedOutput()
	if err != nil {
		s.t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out))
}

// write writes a file into the source's working tree.
func (s *source) write(name, content string, mode os.FileMode) {
	s.t.Helper()
	p := filepath.Join(s.dir, name)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		s.t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), mode); err != nil {
		s.t.Fatal(err)
	}
	if err := os.Chmod(p, mode); err != nil {
		s.t.Fatal(err)
	}
}

// commit commits every tracked and new file and returns the new commit's SHA.
func (s *source) commit(msg string) string {
	s.t.Helper()
	s.n++
	s.git("add", "--all")
	s.git("commit", "--quiet", "--no-gpg-sign", "-m", msg)
	return s.git("rev-parse", "HEAD")
}

// openRepo opens a cache of src in a fresh directory.
func openRepo(t *testing.T, src string) *Repo {
	t.Helper()
	r, err := Open(context.Background(), src, filepath.Join(t.TempDir(), "repo.git"), nil)
	if err != nil {
		t.Fatalf("Open(%q): %v", src, err)
	}
	return r
}

// wantCode fails the test unless err carries the domain error code.
func wantCode(t *testing.T, err error, code string) {
	t.Helper()
	if err == nil {
		t.Fatalf("got no error, want %s", code)
	}
	if got := bluegreen.ErrorCode(err); got != code {
		t.Fatalf("error code %q, want %q (error: %v)", got, code, err)
	}
}

// gitLogger replaces r's git binary with a real script that appends its
// arguments to a log file and then runs the real git, and returns a function
// reading that log.
func gitLogger(t *testing.T, r *Repo, extra string) func() string {
	t.Helper()
	dir := t.TempDir()
	logFile := filepath.Join(dir, "git.log")
	script := filepath.Join(dir, "git")
	body := fmt.Sprintf("#!/bin/sh\necho \"$*\" >> %q\n%s\nexec %q \"$@\"\n", logFile, extra, r.gitBin)
	if err := os.WriteFile(script, []byte(body), 0o755); err != nil {
		t.Fatal(err)
	}
	r.gitBin = script
	return func() string {
		b, err := os.ReadFile(logFile)
		if err != nil && !os.IsNotExist(err) {
			t.Fatal(err)
		}
		return string(b)
	}
}

// exists reports whether path exists (without following a final symlink).
func exists(path string) bool {
	_, err := os.Lstat(path)
	return err == nil
}
