package release

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"time"

	"github.com/bluegreen/bluegreen"
)

// releaseTimeFormat is the UTC time prefix of a release directory's name.
const releaseTimeFormat = "20060102T150405.000000Z"

// releaseName matches the names ReleaseDir makes; nothing else under a
// color's directory is ever listed or pruned.
var releaseName = regexp.MustCompile(`^[0-9]{8}T[0-9]{6}\.[0-9]{6}Z-[0-9a-f]{12}$`)

// ReleaseDir returns root/<color>/<UTC t as YYYYmmddTHHMMSSZ>-<first 12 digits
// of sha>, the directory a release of sha deployed at t into color lives in.
// It returns a bluegreen.EINVALID error for an invalid color or a sha that is
// not a full lowercase SHA-1, so the path is built only from validated parts.
func ReleaseDir(root string, color bluegreen.Color, t time.Time, sha string) (string, error) {
	if !color.Valid() {
		return "", bluegreen.Errorf(bluegreen.EINVALID, "invalid color %q: want blue or green", string(color))
	}
	if !isFullSHA(sha) {
		return "", bluegreen.Errorf(bluegreen.EINVALID, "invalid commit %s: want a full lowercase SHA-1", quoteRef(sha))
	}
	return filepath.Join(root, string(color), t.UTC().Format(releaseTimeFormat)+"-"+sha[:12]), nil
}

// Releases lists the release directories of color under root, oldest first
// (the names sort by time). Entries that ReleaseDir would not have made, and
// symlinks, are ignored. A missing color directory yields an empty list.
func Releases(root string, color bluegreen.Color) ([]string, error) {
	if !color.Valid() {
		return nil, bluegreen.Errorf(bluegreen.EINVALID, "invalid color %q: want blue or green", string(color))
	}
	dir := filepath.Join(root, string(color))
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("listing releases: %w", err)
	}
	var out []string
	for _, e := range entries { // ReadDir sorts by name
		if e.IsDir() && releaseName.MatchString(e.Name()) {
			out = append(out, filepath.Join(dir, e.Name()))
		}
	}
	return out, nil
}

// Prune removes the oldest release directories of color under root so that
// only the newest keep remain, except that a directory named in inUse (by any
// path to it: relative, absolute or through a symlink) is never removed and
// does not count against keep. It returns the directories it removed. A
// negative keep is a bluegreen.EINVALID error. Read-only directories left by
// build steps are made writable so they can be removed. Prune must not run
// concurrently with a Checkout into the same color's directory.
func Prune(root string, color bluegreen.Color, keep int, inUse ...string) ([]string, error) {
	if keep < 0 {
		return nil, bluegreen.Errorf(bluegreen.EINVALID, "invalid number of releases to keep: %d", keep)
	}
	all, err := Releases(root, color)
	if err != nil {
		return nil, err
	}
	var removed []string
	candidates := all[:max(0, len(all)-keep)]
	for _, dir := range candidates {
		if used(dir, inUse) {
			continue
		}
		if err := removeTree(dir); err != nil {
			return removed, fmt.Errorf("pruning releases: %w", err)
		}
		removed = append(removed, dir)
	}
	return removed, nil
}

// used reports whether dir is one of inUse.
func used(dir string, inUse []string) bool {
	abs, _ := filepath.Abs(dir)
	fi, statErr := os.Stat(dir)
	return slices.ContainsFunc(inUse, func(u string) bool {
		if u == "" {
			return false
		}
		if a, err := filepath.Abs(u); err == nil && a == abs {
			return true
		}
		ui, err := os.Stat(u)
		return err == nil && statErr == nil && os.SameFile(fi, ui)
	})
}

// removeTree removes dir and everything in it, making read-only directories
// writable first if a plain RemoveAll fails. It never follows symlinks.
func removeTree(dir string) error {
	if err := os.RemoveAll(dir); err == nil {
		return nil
	}
	_ = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if d != nil && d.IsDir() {
			_ = os.Chmod(p, 0o700)
		}
		return nil
	})
	return os.RemoveAll(dir)
}
