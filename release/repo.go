package release

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/bluegreen/bluegreen"
)

// Repo is a bare mirror cache of the application's repository (for example
// <state>/repo.git): every branch of the remote is kept as refs/heads/<name>
// and every tag as refs/tags/<name>. A Repo is safe for concurrent use:
// fetches are serialised and a checkout never runs during a fetch. Two
// processes must not use the same cache at once (the deploy lock ensures it).
type Repo struct {
	dir    string // absolute path of the bare repository
	remote remote
	gitBin string
	log    *slog.Logger

	mu sync.RWMutex // Fetch holds it for writing, Checkout for reading
}

// Commit is a resolved ref: the domain's type, so that a *Repo is the
// controller's Source (Fetch, Checkout) as it is.
type Commit = bluegreen.Commit

// remoteName is the name of the cache's only remote.
const remoteName = "origin"

// Open prepares the cache at dir for the repository url, or reuses the bare
// repository already there (pointing its remote at url if it changed). url is
// a https, ssh, git or file URL, an scp-like user@host:path, or a local
// directory; anything else (a leading "-", ext::..., a missing directory) is a
// bluegreen.EINVALID error, as is a dir that exists, is not empty and is not
// a bare repository. Open does not contact the remote; Fetch does. A nil
// logger discards.
func Open(ctx context.Context, url, dir string, logger *slog.Logger) (*Repo, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	rem, err := parseRemote(url)
	if err != nil {
		return nil, err
	}
	gitBin, err := exec.LookPath("git")
	if err != nil {
		return nil, bluegreen.Errorf(bluegreen.EUNAVAILABLE, "git is not installed: %v", err)
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("opening repository cache %s: %w", dir, err)
	}
	r := &Repo{dir: abs, remote: rem, gitBin: gitBin, log: logger.With("component", "release", "repo", rem.shown)}
	if err := r.prepare(ctx); err != nil {
		return nil, fmt.Errorf("opening repository cache %s: %w", abs, err)
	}
	return r, nil
}

// Dir returns the absolute path of the cache.
func (r *Repo) Dir() string { return r.dir }

// URL returns the repository location, with any password redacted.
func (r *Repo) URL() string { return r.remote.shown }

// prepare creates the bare repository when needed and configures it.
func (r *Repo) prepare(ctx context.Context) error {
	entries, err := os.ReadDir(r.dir)
	switch {
	case errors.Is(err, os.ErrNotExist) || err == nil && len(entries) == 0:
		if err := os.MkdirAll(r.dir, 0o755); err != nil {
			return err
		}
		if _, err := r.run(ctx, "init", "--bare", "--quiet", "--end-of-options", r.dir); err != nil {
			return err
		}
		r.log.Info("created repository cache", "dir", r.dir)
	case err != nil:
		return err
	default:
		out, err := r.run(ctx, "rev-parse", "--is-bare-repository")
		if err != nil || out != "true" {
			return bluegreen.Errorf(bluegreen.EINVALID, "%s exists and is not a bare git repository", r.dir)
		}
	}
	old, _ := r.run(ctx, "config", "--get", "remote."+remoteName+".url")
	if old != r.remote.url {
		if _, err := r.run(ctx, "config", "--end-of-options", "remote."+remoteName+".url", r.remote.url); err != nil {
			return err
		}
		if old != "" {
			r.log.Info("repository cache now follows a new remote", "old", redact(old))
		}
	}
	// Attributes in the commits themselves must not change what Checkout
	// writes: info/attributes takes precedence over .gitattributes.
	info := filepath.Join(r.dir, "info")
	if err := os.MkdirAll(info, 0o755); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(info, "attributes"), []byte("* -export-ignore -export-subst\n"), 0o644)
}

// Fetch updates the cache from the remote (all branches and tags; branches and
// tags deleted there are deleted here) and resolves ref to a commit: a branch
// of the remote, then a tag, then a full or unambiguous short SHA (ref may also
// be a full refs/heads/... or refs/tags/... name). An invalid ref is a
// bluegreen.EINVALID error returned before any git process runs; a ref that
// names nothing is bluegreen.ENOTFOUND; a remote that cannot be fetched is
// bluegreen.EUNAVAILABLE with git's last line of output. Fetch is safe for
// concurrent use; concurrent calls are serialised.
func (r *Repo) Fetch(ctx context.Context, ref string) (Commit, error) {
	if err := bluegreen.ValidateRef(ref); err != nil {
		return Commit{}, err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	start := time.Now()
	_, err := r.run(ctx, "fetch", "--quiet", "--prune", "--no-tags", "--force", "--no-write-fetch-head",
		"--end-of-options", remoteName, "+refs/heads/*:refs/heads/*", "+refs/tags/*:refs/tags/*")
	if err != nil {
		if ctx.Err() != nil {
			return Commit{}, fmt.Errorf("fetching %s: %w", r.remote.shown, err)
		}
		r.log.Warn("fetch failed", "err", err)
		reason := err.Error()
		if ge := (*gitError)(nil); errors.As(err, &ge) {
			reason = ge.summary()
		}
		return Commit{}, bluegreen.Errorf(bluegreen.EUNAVAILABLE, "fetching %s: %s", r.remote.shown, reason)
	}
	sha, err := r.resolve(ctx, ref)
	if err != nil {
		return Commit{}, err
	}
	c, err := r.commitInfo(ctx, sha)
	if err != nil {
		return Commit{}, err
	}
	c.Ref = ref
	r.log.Info("fetched", "ref", ref, "sha", c.SHA, "subject", c.Subject, "duration", time.Since(start))
	return c, nil
}

// resolve finds the commit ref names in the cache.
func (r *Repo) resolve(ctx context.Context, ref string) (string, error) {
	candidates := []string{"refs/heads/" + ref, "refs/tags/" + ref}
	if strings.HasPrefix(ref, "refs/heads/") || strings.HasPrefix(ref, "refs/tags/") {
		candidates = []string{ref}
	}
	for _, name := range candidates {
		sha, err := r.run(ctx, "rev-parse", "--verify", "--quiet", "--end-of-options", name+"^{commit}")
		if err == nil {
			return sha, nil
		}
		if exitCode(err) != 1 {
			return "", fmt.Errorf("resolving %q: %w", ref, err)
		}
	}
	if looksLikeSHA(ref) {
		// Without --quiet, so that an ambiguous prefix says so.
		sha, err := r.run(ctx, "rev-parse", "--verify", "--end-of-options", strings.ToLower(ref)+"^{commit}")
		if err == nil {
			return sha, nil
		}
		var ge *gitError
		if errors.As(err, &ge) && strings.Contains(ge.stderr, "is ambiguous") {
			return "", bluegreen.Errorf(bluegreen.EINVALID, "short SHA %q is ambiguous in %s: give more digits", ref, r.remote.shown)
		}
		if ctx.Err() != nil {
			return "", fmt.Errorf("resolving %q: %w", ref, err)
		}
	}
	return "", bluegreen.Errorf(bluegreen.ENOTFOUND, "ref %q: no branch, tag or commit of that name in %s", ref, r.remote.shown)
}

// commitInfo reads the subject, author and time of the commit sha.
func (r *Repo) commitInfo(ctx context.Context, sha string) (Commit, error) {
	out, err := r.run(ctx, "log", "-1", "--no-show-signature", "--format=%H%x00%s%x00%an <%ae>%x00%cI", "--end-of-options", sha)
	if err != nil {
		return Commit{}, fmt.Errorf("reading commit %s: %w", sha, err)
	}
	f := strings.Split(out, "\x00")
	if len(f) != 4 || !isFullSHA(f[0]) {
		return Commit{}, fmt.Errorf("reading commit %s: unexpected git log output %q", sha, out)
	}
	t, err := time.Parse(time.RFC3339, f[3])
	if err != nil {
		return Commit{}, fmt.Errorf("reading commit %s: commit time: %w", sha, err)
	}
	return Commit{
		SHA:     f[0],
		Subject: strings.ToValidUTF8(f[1], "\uFFFD"),
		Author:  strings.ToValidUTF8(f[2], "\uFFFD"),
		Time:    t,
	}, nil
}
