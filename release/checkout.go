package release

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"
)

// Checkout writes the tree of the commit sha (a full SHA as Fetch returns it)
// into dest, a plain directory with no link back into the cache. dest must not
// exist yet (the error then wraps fs.ErrExist); its parent is created when
// missing. The tree is extracted into a temporary sibling of dest and renamed
// into place, so dest is either complete or absent: a failed checkout removes
// what it wrote. An invalid sha is a bluegreen.EINVALID error, a commit the
// cache does not have is bluegreen.ENOTFOUND. Checkout is safe for concurrent
// use with other checkouts; it waits for a running Fetch.
func (r *Repo) Checkout(ctx context.Context, sha, dest string) (err error) {
	if err := checkSHA(sha); err != nil {
		return err
	}
	r.mu.RLock()
	defer r.mu.RUnlock()
	if err := r.haveCommit(ctx, sha); err != nil {
		return fmt.Errorf("checking out %s: %w", sha, err)
	}
	dest, err = filepath.Abs(dest)
	if err != nil {
		return fmt.Errorf("checking out %s: %w", sha, err)
	}
	if _, err := os.Lstat(dest); err == nil {
		return fmt.Errorf("checking out %s into %s: %w", sha, dest, fs.ErrExist)
	}
	parent := filepath.Dir(dest)
	if err := os.MkdirAll(parent, 0o755); err != nil {
		return fmt.Errorf("checking out %s: %w", sha, err)
	}
	tmp, err := os.MkdirTemp(parent, ".checkout-"+filepath.Base(dest)+"-")
	if err != nil {
		return fmt.Errorf("checking out %s: %w", sha, err)
	}
	defer func() {
		if err != nil {
			if rmErr := removeTree(tmp); rmErr != nil {
				r.log.Warn("removing a failed checkout", "dir", tmp, "err", rmErr)
			}
		}
	}()
	start := time.Now()
	if err := r.archive(ctx, sha, tmp); err != nil {
		return fmt.Errorf("checking out %s: %w", sha, err)
	}
	if err := os.Chmod(tmp, 0o755); err != nil {
		return fmt.Errorf("checking out %s: %w", sha, err)
	}
	if err := os.Rename(tmp, dest); err != nil {
		return fmt.Errorf("checking out %s: %w", sha, err)
	}
	r.log.Info("checked out", "sha", sha, "dir", dest, "duration", time.Since(start))
	return nil
}

// archive writes the tree of sha into the directory dir.
func (r *Repo) archive(ctx context.Context, sha, dir string) error {
	return r.gitArchive(ctx, sha, func(out io.Reader) error {
		return extractTar(tar.NewReader(out), dir)
	})
}

// extractTar writes the regular files, directories and symlinks of tr into
// dir. Every write goes through an os.Root, so no entry can escape dir, not
// even through a symlink written earlier.
func extractTar(tr *tar.Reader, dir string) error {
	root, err := os.OpenRoot(dir)
	if err != nil {
		return err
	}
	defer root.Close()
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("reading archive: %w", err)
		}
		if hdr.Typeflag == tar.TypeXGlobalHeader {
			continue // git's pax header with the commit id
		}
		name := path.Clean(strings.TrimSuffix(hdr.Name, "/"))
		if !filepath.IsLocal(name) {
			return fmt.Errorf("archive entry %q: not a local path", hdr.Name)
		}
		if err := extractEntry(root, tr, hdr, name); err != nil {
			return fmt.Errorf("archive entry %q: %w", hdr.Name, err)
		}
	}
}

func extractEntry(root *os.Root, tr *tar.Reader, hdr *tar.Header, name string) error {
	if dir := path.Dir(name); dir != "." {
		if err := root.MkdirAll(dir, 0o755); err != nil {
			return err
		}
	}
	switch hdr.Typeflag {
	case tar.TypeDir:
		return root.MkdirAll(name, 0o755)
	case tar.TypeSymlink:
		return root.Symlink(hdr.Linkname, name)
	case tar.TypeReg:
		mode := os.FileMode(0o644)
		if hdr.Mode&0o111 != 0 {
			mode = 0o755
		}
		f, err := root.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode)
		if err != nil {
			return err
		}
		_, err = io.Copy(f, tr)
		return errors.Join(err, f.Close())
	}
	return fmt.Errorf("unsupported entry type %q", hdr.Typeflag)
}
