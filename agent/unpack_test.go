package agent

import (
	"archive/tar"
	"bytes"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// entry is one entry of a test archive.
type entry struct {
	name, body, link string
	typ              byte
	mode             int64
}

// tarOf builds a tar archive of entries (a pax global header first, as git
// archive writes).
func tarOf(t testing.TB, entries ...entry) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeXGlobalHeader, Name: "pax_global_header",
		PAXRecords: map[string]string{"comment": "0123456789abcdef0123456789abcdef01234567"}}); err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		typ := e.typ
		if typ == 0 {
			typ = tar.TypeReg
		}
		mode := e.mode
		if mode == 0 {
			mode = 0o644
		}
		hdr := &tar.Header{Typeflag: typ, Name: e.name, Linkname: e.link, Mode: mode, Size: int64(len(e.body))}
		if typ != tar.TypeReg {
			hdr.Size = 0
		}
		if err := tw.WriteHeader(hdr); err != nil {
			t.Fatal(err)
		}
		if typ == tar.TypeReg {
			if _, err := tw.Write([]byte(e.body)); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestUnpackRelease(t *testing.T) {
	dir := t.TempDir()
	archive := tarOf(t,
		entry{name: "app/", typ: tar.TypeDir, mode: 0o755},
		entry{name: "app/run.sh", body: "echo hi\n", mode: 0o4755},
		entry{name: "app/data/VERSION", body: "v2\n"},
		entry{name: "app/current", typ: tar.TypeSymlink, link: "data/VERSION"},
		entry{name: "app/data/up", typ: tar.TypeSymlink, link: "../../app/run.sh"},
		entry{name: "ro/", typ: tar.TypeDir, mode: 0o555},
		entry{name: "ro/file", body: "x"},
	)
	if err := Unpack(bytes.NewReader(archive), dir); err != nil {
		t.Fatalf("Unpack: %v", err)
	}
	b, err := os.ReadFile(filepath.Join(dir, "app", "current"))
	if err != nil || string(b) != "v2\n" {
		t.Errorf("app/current through its link: %q, %v", b, err)
	}
	for name, want := range map[string]fs.FileMode{"app/run.sh": 0o755, "app/data/VERSION": 0o644, "ro": fs.ModeDir | 0o555} {
		fi, err := os.Lstat(filepath.Join(dir, name))
		if err != nil || fi.Mode() != want {
			t.Errorf("%s: mode %v (%v), want %v (setuid masked off)", name, fi.Mode(), err, want)
		}
	}
	if b, err := os.ReadFile(filepath.Join(dir, "ro", "file")); err != nil || string(b) != "x" {
		t.Errorf("a file in a read-only directory: %q, %v", b, err)
	}
}

// TestUnpackRefuses: each archive holds one entry an unpacker must refuse;
// nothing is written outside the release directory.
func TestUnpackRefuses(t *testing.T) {
	for _, tc := range []struct {
		name    string
		entries []entry
		want    string
	}{
		{"dot-dot", []entry{{name: "../escape", body: "x"}}, "`..`"},
		{"dot-dot inside", []entry{{name: "a/../../escape", body: "x"}}, "`..`"},
		{"absolute", []entry{{name: "/tmp/escape", body: "x"}}, "absolute path"},
		{"absolute link", []entry{{name: "l", typ: tar.TypeSymlink, link: "/etc"}}, "absolute path"},
		{"escaping link", []entry{{name: "a/l", typ: tar.TypeSymlink, link: "../../outside"}}, "outside the release"},
		{"link to the parent", []entry{{name: "l", typ: tar.TypeSymlink, link: ".."}}, "outside the release"},
		// Inside by its joined path, outside through the link m -> ".".
		{"climbing through a link", []entry{{name: "m", typ: tar.TypeSymlink, link: "."},
			{name: "l", typ: tar.TypeSymlink, link: "m/m/m/../../../etc/passwd"}}, "`..` after a name"},
		{"climbing through a later link", []entry{{name: "l", typ: tar.TypeSymlink, link: "sub/a/../../x"},
			{name: "sub/a", typ: tar.TypeSymlink, link: ".."}}, "`..` after a name"},
		{"through a link", []entry{{name: "l", typ: tar.TypeSymlink, link: "."}, {name: "l/m", typ: tar.TypeSymlink, link: "../escape"}}, "under the symbolic link"},
		{"file through a link", []entry{{name: "d/", typ: tar.TypeDir}, {name: "l", typ: tar.TypeSymlink, link: "d"}, {name: "l/f", body: "x"}}, "under the symbolic link"},
		{"hard link", []entry{{name: "f", body: "x"}, {name: "h", typ: tar.TypeLink, link: "f"}}, "not allowed"},
		{"fifo", []entry{{name: "p", typ: tar.TypeFifo}}, "not allowed"},
		{"char device", []entry{{name: "c", typ: tar.TypeChar}}, "not allowed"},
		{"duplicate", []entry{{name: "f", body: "x"}, {name: "f", body: "y"}}, "duplicate"},
		{"file over a link", []entry{{name: "l", typ: tar.TypeSymlink, link: "f"}, {name: "l", body: "y"}}, "duplicate"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			parent := t.TempDir()
			dir := filepath.Join(parent, "release")
			if err := os.Mkdir(dir, 0o700); err != nil {
				t.Fatal(err)
			}
			err := Unpack(bytes.NewReader(tarOf(t, tc.entries...)), dir)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Unpack: %v; want an error saying %q", err, tc.want)
			}
			assertContained(t, parent, dir)
		})
	}
}

// assertContained fails when parent holds anything but dir, or dir holds a
// symbolic link that leads outside it.
func assertContained(t testing.TB, parent, dir string) {
	t.Helper()
	des, err := os.ReadDir(parent)
	if err != nil {
		t.Fatal(err)
	}
	if len(des) != 1 || des[0].Name() != filepath.Base(dir) {
		t.Fatalf("the unpacking wrote outside the release: %v", des)
	}
	realDir, err := filepath.EvalSymlinks(dir)
	if err != nil {
		t.Fatal(err)
	}
	err = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.Type()&fs.ModeSymlink == 0 {
			return err
		}
		target, err := os.Readlink(p)
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(dir, filepath.Join(filepath.Dir(p), target))
		if err != nil || filepath.IsAbs(target) || rel == ".." || strings.HasPrefix(rel, "../") {
			t.Errorf("link %s -> %s leads outside the release", p, target)
		}
		// Resolved through every link on its way, too.
		if real, err := filepath.EvalSymlinks(p); err == nil {
			if rel, err := filepath.Rel(realDir, real); err != nil || rel == ".." || strings.HasPrefix(rel, "../") {
				t.Errorf("link %s -> %s resolves to %s, outside the release", p, target, real)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// FuzzUnpack: whatever the archive, Unpack writes nothing outside its
// directory and leaves no link that leads out of it. The seed corpus
// (testdata/fuzz/FuzzUnpack) holds a good release and each refused kind.
func FuzzUnpack(f *testing.F) {
	f.Add(tarOf(f, entry{name: "a/", typ: tar.TypeDir}, entry{name: "a/f", body: "x"}, entry{name: "a/l", typ: tar.TypeSymlink, link: "f"}))
	f.Add(tarOf(f, entry{name: "m", typ: tar.TypeSymlink, link: "."}, entry{name: "l", typ: tar.TypeSymlink, link: "m/m/../../x"}))
	f.Fuzz(func(t *testing.T, archive []byte) {
		parent := t.TempDir()
		dir := filepath.Join(parent, "release")
		if err := os.Mkdir(dir, 0o700); err != nil {
			t.Fatal(err)
		}
		_ = Unpack(bytes.NewReader(archive), dir)
		// Read-only directories the archive made must not stop the cleanup.
		_ = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
			if err == nil && d.IsDir() {
				_ = os.Chmod(p, 0o700)
			}
			return nil
		})
		assertContained(t, parent, dir)
	})
}
