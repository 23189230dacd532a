package release

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/bluegreen/bluegreen"
)

func TestReleaseDir(t *testing.T) {
	sha := "0123456789abcdef0123456789abcdef01234567"
	at := time.Date(2024, 3, 1, 13, 4, 5, 123456789, time.FixedZone("CET", 3600))
	got, err := ReleaseDir("/srv/releases", bluegreen.Green, at, sha)
	if err != nil {
		t.Fatal(err)
	}
	if want := "/srv/releases/green/20240301T120405.123456Z-0123456789ab"; got != want {
		t.Errorf("ReleaseDir = %q, want %q", got, want)
	}
	if !releaseName.MatchString(filepath.Base(got)) {
		t.Errorf("ReleaseDir name %q is not one Releases lists", got)
	}
	for _, tc := range []struct {
		color bluegreen.Color
		sha   string
	}{
		{"", sha}, {"red", sha}, {"../blue", sha},
		{bluegreen.Blue, ""}, {bluegreen.Blue, sha[:12]}, {bluegreen.Blue, strings.ToUpper(sha)},
		{bluegreen.Blue, "../../../../etc/passwd/0123456789abcdef01"},
	} {
		_, err := ReleaseDir("/srv/releases", tc.color, at, tc.sha)
		wantCode(t, err, bluegreen.EINVALID)
	}
}

// makeReleases creates n release directories of color, one minute apart, and
// returns them oldest first.
func makeReleases(t *testing.T, root string, color bluegreen.Color, n int) []string {
	t.Helper()
	var dirs []string
	for i := range n {
		sha := strings.Repeat(string("0123456789"[i%10]), 40)
		dir, err := ReleaseDir(root, color, base.Add(time.Duration(i)*time.Minute), sha)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.MkdirAll(filepath.Join(dir, "app"), 0o755); err != nil {
			t.Fatal(err)
		}
		dirs = append(dirs, dir)
	}
	return dirs
}

func TestPruneKeepsNewestAndInUse(t *testing.T) {
	root := t.TempDir()
	dirs := makeReleases(t, root, bluegreen.Green, 6)
	blue := makeReleases(t, root, bluegreen.Blue, 2)
	// Things Prune must never touch: a temp checkout, a stray file, a symlink.
	stray := []string{
		filepath.Join(root, "green", ".checkout-x-123"),
		filepath.Join(root, "green", "notes"),
		filepath.Join(root, "green", "20990101T000000.000000Z-ffffffffffff"),
	}
	if err := os.Mkdir(stray[0], 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(stray[1], nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(dirs[0], stray[2]); err != nil {
		t.Fatal(err)
	}
	// A read-only directory, as some build tools leave behind.
	ro := filepath.Join(dirs[1], "app", "cache")
	if err := os.MkdirAll(ro, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(ro, "f"), nil, 0o444); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(ro, 0o555); err != nil {
		t.Fatal(err)
	}

	// dirs[0] is in use through a symlink, dirs[2] through a relative path.
	current := filepath.Join(t.TempDir(), "current")
	if err := os.Symlink(dirs[0], current); err != nil {
		t.Fatal(err)
	}
	wd, _ := os.Getwd()
	rel, err := filepath.Rel(wd, dirs[2])
	if err != nil {
		t.Fatal(err)
	}
	removed, err := Prune(root, bluegreen.Green, 2, current, rel)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{dirs[1], dirs[3]}; !slices.Equal(removed, want) {
		t.Errorf("Prune removed %v, want %v", removed, want)
	}
	left, err := Releases(root, bluegreen.Green)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{dirs[0], dirs[2], dirs[4], dirs[5]}; !slices.Equal(left, want) {
		t.Errorf("after Prune, releases = %v, want %v", left, want)
	}
	for _, p := range append(stray, blue...) {
		if !exists(p) {
			t.Errorf("Prune removed %s, which it must not touch", p)
		}
	}

	// keep 0 with nothing in use empties the color; a missing color is fine.
	if _, err := Prune(root, bluegreen.Green, 0); err != nil {
		t.Fatal(err)
	}
	if left, _ := Releases(root, bluegreen.Green); len(left) != 0 {
		t.Errorf("Prune(keep 0) left %v", left)
	}
	if removed, err := Prune(t.TempDir(), bluegreen.Blue, 1); err != nil || len(removed) != 0 {
		t.Errorf("Prune of a missing color = %v, %v; want nothing, nil", removed, err)
	}
	_, err = Prune(root, bluegreen.Blue, -1)
	wantCode(t, err, bluegreen.EINVALID)
	_, err = Prune(root, "purple", 1)
	wantCode(t, err, bluegreen.EINVALID)
}
