package agent

import (
	"archive/tar"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"strings"
)

// Unpack extracts the tar archive read from r into dir, an existing empty
// directory, as a release: only regular files, directories and symbolic
// links, each mode kept but masked with 0777 (no setuid, setgid or sticky
// bit). It refuses, with an error naming the entry, an absolute name, a
// name with a `..` element, a duplicate entry, an entry under a symbolic
// link of the archive, a link whose target is absolute, leads outside dir,
// or has a `..` after a name (see linkTarget), and every other entry type
// (hard links, devices, FIFOs). pax global
// headers (git archive writes the commit id in one) are skipped.
//
// Every write goes through an os.Root on dir, so nothing is ever written
// outside dir; on an error, what was written so far stays in dir for the
// caller to remove.
func Unpack(r io.Reader, dir string) error {
	root, err := os.OpenRoot(dir)
	if err != nil {
		return fmt.Errorf("unpacking: %w", err)
	}
	defer root.Close()
	u := &unpacker{root: root, links: map[string]bool{}}
	tr := tar.NewReader(r)
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return fmt.Errorf("unpacking: reading the archive: %w", err)
		}
		if err := u.entry(hdr, tr); err != nil {
			return fmt.Errorf("unpacking %q: %w", hdr.Name, err)
		}
	}
	// Directory modes last: a directory without write permission for its
	// owner must still have received its entries.
	for i := len(u.dirs) - 1; i >= 0; i-- {
		if err := root.Chmod(u.dirs[i].name, u.dirs[i].mode); err != nil {
			return fmt.Errorf("unpacking %q: %w", u.dirs[i].name, err)
		}
	}
	return nil
}

// unpacker is one Unpack: the root it writes into, the symbolic links it
// made and the directories whose modes it sets at the end.
type unpacker struct {
	root  *os.Root
	links map[string]bool
	dirs  []dirMode
}

type dirMode struct {
	name string
	mode os.FileMode
}

func (u *unpacker) entry(hdr *tar.Header, body io.Reader) error {
	if hdr.Typeflag == tar.TypeXGlobalHeader {
		return nil
	}
	name, err := entryName(hdr.Name)
	if err != nil {
		return err
	}
	if name == "." {
		return nil // the archive's own top directory ("./")
	}
	if err := u.parents(name); err != nil {
		return err
	}
	mode := os.FileMode(hdr.Mode) & 0o777
	switch hdr.Typeflag {
	case tar.TypeDir:
		if fi, err := u.root.Lstat(name); err == nil {
			if !fi.IsDir() {
				return errors.New("a directory where the archive has another entry already")
			}
		} else if err := u.root.Mkdir(name, 0o700); err != nil {
			return err
		}
		u.dirs = append(u.dirs, dirMode{name, mode})
		return nil
	case tar.TypeReg, tar.TypeRegA:
		f, err := u.root.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if errors.Is(err, os.ErrExist) {
			return errors.New("duplicate entry")
		}
		if err != nil {
			return err
		}
		_, err = io.Copy(f, body)
		if err == nil {
			err = f.Chmod(mode)
		}
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		return err
	case tar.TypeSymlink:
		if err := linkTarget(name, hdr.Linkname); err != nil {
			return err
		}
		if err := u.root.Symlink(hdr.Linkname, name); err != nil {
			if errors.Is(err, os.ErrExist) {
				return errors.New("duplicate entry")
			}
			return err
		}
		u.links[name] = true
		return nil
	}
	return fmt.Errorf("entry type %q is not allowed in a release (only files, directories and symbolic links)", string(hdr.Typeflag))
}

// parents makes the missing parent directories of name, refusing a parent
// that is one of the archive's symbolic links (a link to "." would let a
// later link's `..` leave dir while looking inside it).
func (u *unpacker) parents(name string) error {
	dir := path.Dir(name)
	if dir == "." {
		return nil
	}
	for p := dir; p != "."; p = path.Dir(p) {
		if u.links[p] {
			return fmt.Errorf("it lies under the symbolic link %q of the archive", p)
		}
	}
	return u.root.MkdirAll(dir, 0o700)
}

// entryName checks an archive entry's name and returns it cleaned: "." for
// the archive's top directory. Absolute names and `..` elements are
// refused.
func entryName(raw string) (string, error) {
	switch {
	case raw == "":
		return "", errors.New("an entry without a name")
	case strings.HasPrefix(raw, "/"):
		return "", errors.New("an absolute path")
	case strings.ContainsRune(raw, 0):
		return "", errors.New("a name with a NUL byte")
	}
	for _, elem := range strings.Split(raw, "/") {
		if elem == ".." {
			return "", errors.New("a name with a `..` element")
		}
	}
	return path.Clean(raw), nil
}

// linkTarget checks the target of the symbolic link name: relative, its
// `..` elements all at its start and no more of them than the link's
// directory is deep, then only names. A link so made resolves inside the
// release whatever links its names go through (each of them is such a link
// too), which a check of the joined path alone would not ensure: with
// `m -> .`, `m/m/../../x` looks inside but climbs out through m.
func linkTarget(name, target string) error {
	switch {
	case target == "":
		return errors.New("a symbolic link without a target")
	case path.IsAbs(target):
		return fmt.Errorf("a symbolic link to the absolute path %q", target)
	case strings.ContainsRune(target, 0):
		return errors.New("a symbolic link target with a NUL byte")
	}
	depth := 0
	if d := path.Dir(name); d != "." {
		depth = strings.Count(d, "/") + 1
	}
	ups, named := 0, false
	for _, elem := range strings.Split(target, "/") {
		switch {
		case elem == "" || elem == ".":
		case elem == ".." && named:
			return fmt.Errorf("a symbolic link to %q: `..` after a name (put every `..` first)", target)
		case elem == "..":
			ups++
		default:
			named = true
		}
	}
	if ups > depth {
		return fmt.Errorf("a symbolic link to %q, outside the release", target)
	}
	return nil
}
