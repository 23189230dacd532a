package process

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestRotatingFileKeepsLinesWholeAndDropsTheOldest(t *testing.T) {
	dir := t.TempDir()
	read := func(name string) string {
		b, err := os.ReadFile(name)
		if err != nil {
			return "<" + err.Error() + ">"
		}
		return string(b)
	}

	// One write per line, as a line-buffered app does: every file holds
	// whole lines, and a line longer than the limit is split at it.
	path := filepath.Join(dir, "lines.log")
	r, err := openRotating(path, 20, 2)
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range []string{"aaaa\n", "bbbb\n", "cccc\n", "dddd\n", "eeee\n", strings.Repeat("x", 25) + "\n", "yy\n", "zz\n"} {
		if n, err := r.Write([]byte(line)); err != nil || n != len(line) {
			t.Fatalf("Write: %d, %v", n, err)
		}
	}
	r.Close()
	got := []string{read(path + ".2"), read(path + ".1"), read(path)}
	want := []string{"eeee\n", strings.Repeat("x", 20), "xxxxx\nyy\nzz\n"}
	if !slices.Equal(got, want) {
		t.Errorf("files .2 .1 current = %q, want %q", got, want)
	}
	if _, err := os.Stat(path + ".3"); !os.IsNotExist(err) {
		t.Errorf("lines.log.3: %v, want none with keep 2", err)
	}
	lines, err := tailLines(path, 3)
	if err != nil || !slices.Equal(lines, []string{"xxxxx", "yy", "zz"}) {
		t.Errorf("tailLines(3) = %q, %v", lines, err)
	}

	// Writes cut anywhere, as pipe reads are: no file passes the limit and
	// the files hold the end of the output, in order.
	path = filepath.Join(dir, "chunks.log")
	if r, err = openRotating(path, 20, 2); err != nil {
		t.Fatal(err)
	}
	in := "aaaa\nbbbb\ncccc\ndddd\neeee\nffff\ngggg\nhhhh\n" + strings.Repeat("x", 45) + "\nyy\n"
	for chunk := range slices.Chunk([]byte(in), 7) {
		if n, err := r.Write(chunk); err != nil || n != len(chunk) {
			t.Fatalf("Write: %d, %v", n, err)
		}
	}
	r.Close()
	var kept string
	for _, name := range []string{path + ".2", path + ".1", path} {
		if b := read(name); len(b) > 20 {
			t.Errorf("%s holds %d bytes, past the limit of 20", filepath.Base(name), len(b))
		} else {
			kept += b
		}
	}
	if len(kept) < 40 || !strings.HasSuffix(in, kept) {
		t.Errorf("kept %q, want the last 40 to 60 bytes of the output", kept)
	}
}

func TestTailFileReadsBackwardsAcrossChunks(t *testing.T) {
	path := filepath.Join(t.TempDir(), "log")
	var b strings.Builder
	for i := range 20000 { // about 190 KiB: several tail chunks
		fmt.Fprintf(&b, "line %d\n", i)
	}
	b.WriteString("\n") // an empty last line
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	lines, err := tailFile(path, 19000)
	if err != nil || len(lines) != 19000 || lines[0] != "" || lines[1] != "line 19999" || lines[18999] != "line 1001" {
		t.Fatalf("tailFile: %d lines, first %q %q, last %q, %v", len(lines), lines[0], lines[1], lines[len(lines)-1], err)
	}
	all, _ := tailLines(path, 1<<20)
	if len(all) != 20001 || all[0] != "line 0" {
		t.Errorf("tailLines(all) = %d lines starting %q, want 20001 from line 0", len(all), all[0])
	}
	if none, err := tailLines(filepath.Join(t.TempDir(), "missing"), 5); err != nil || len(none) != 0 {
		t.Errorf("tail of a missing log = %q, %v; want nothing", none, err)
	}
}

func TestParseStatCountsFieldsAfterTheName(t *testing.T) {
	// A command name with spaces and a parenthesis, as a process may choose.
	stat := "4242 (we ird) name) S 1 4242 4242 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 987654 1000 200"
	info, err := parseStat([]byte(stat))
	if err != nil || info.State != 'S' || info.StartTicks != 987654 {
		t.Errorf("parseStat = %+v, %v; want state S, start 987654", info, err)
	}
	if _, err := parseStat([]byte("4242 (x) S 1")); err == nil {
		t.Error("parseStat of a short line: no error")
	}
}
