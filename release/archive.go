package release

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os/exec"

	"github.com/bluegreen/bluegreen"
)

// Archive writes to w a tar archive of the tree of the commit sha (a full
// lowercase SHA, as Fetch returns it): exactly what Checkout would write
// into a directory (export attributes do not apply either). The
// archive is streamed from git as it is made, never held whole in memory.
// An invalid sha is a bluegreen.EINVALID error, refused before git runs; a
// commit the cache does not have is bluegreen.ENOTFOUND, and then nothing
// has been written to w. An error of w (a client gone) stops git and is
// returned. Archive is safe for concurrent use; it waits for a running
// Fetch.
func (r *Repo) Archive(ctx context.Context, sha string, w io.Writer) error {
	if err := checkSHA(sha); err != nil {
		return err
	}
	r.mu.RLock()
	defer r.mu.RUnlock()
	if err := r.haveCommit(ctx, sha); err != nil {
		return fmt.Errorf("archiving %s: %w", sha, err)
	}
	err := r.gitArchive(ctx, sha, func(out io.Reader) error {
		_, err := io.Copy(w, out)
		return err
	})
	if err != nil {
		return fmt.Errorf("archiving %s: %w", sha, err)
	}
	return nil
}

// checkSHA refuses anything but a full lowercase SHA-1 (EINVALID), so that
// no caller's input reaches git as an option or a revision expression.
func checkSHA(sha string) error {
	if !isFullSHA(sha) {
		return bluegreen.Errorf(bluegreen.EINVALID, "invalid commit %s: want a full lowercase SHA-1", quoteRef(sha))
	}
	return nil
}

// haveCommit fails with ENOTFOUND unless the cache holds the commit sha,
// which checkSHA accepted. The caller holds r.mu.
func (r *Repo) haveCommit(ctx context.Context, sha string) error {
	if _, err := r.run(ctx, "rev-parse", "--verify", "--quiet", "--end-of-options", sha+"^{commit}"); err != nil {
		if exitCode(err) == 1 {
			return bluegreen.Errorf(bluegreen.ENOTFOUND, "commit %s is not in the repository cache; fetch it first", sha)
		}
		return err
	}
	return nil
}

// gitArchive runs `git archive --format=tar` of sha and hands its output to
// consume. When consume fails, git is stopped and consume's error returned
// (joined with git's own when git failed first); when consume returns early
// without error, the rest of the output is discarded.
func (r *Repo) gitArchive(parent context.Context, sha string, consume func(io.Reader) error) error {
	ctx, cancel := context.WithCancel(parent)
	defer cancel()
	args := []string{"archive", "--format=tar", "--end-of-options", sha}
	cmd, stderr, release, err := r.command(ctx, args...)
	if err != nil {
		return err
	}
	defer release()
	out, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	if err := cmd.Start(); err != nil {
		return err
	}
	if xerr := consume(out); xerr != nil {
		cancel() // git may be blocked writing; it has nothing more we want
		werr := cmd.Wait()
		if parent.Err() != nil {
			return fmt.Errorf("%w: %w", parent.Err(), xerr)
		}
		var exit *exec.ExitError
		if errors.As(werr, &exit) && exit.Exited() { // git failed by itself first
			return errors.Join(xerr, r.gitError(parent, args, werr, stderr))
		}
		return xerr
	}
	_, _ = io.Copy(io.Discard, out) // the archive's trailing padding
	if err := cmd.Wait(); err != nil {
		return r.gitError(ctx, args, err, stderr)
	}
	return nil
}
