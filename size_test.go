package bluegreen_test

import (
	"bufio"
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// maxCmdLines is how much non-test Go cmd/bluegreen may hold: the verbs
// stay thin, and what they do lives in the packages (issue 24).
const maxCmdLines = 2000

// maxFileLines is the size past which a non-test Go file must say, in its
// first comment, why it is one file ("must be one file").
const maxFileLines = 700

// TestCmdStaysThin fails when cmd/bluegreen's non-test Go grows past
// maxCmdLines lines.
func TestCmdStaysThin(t *testing.T) {
	files, err := filepath.Glob("cmd/bluegreen/*.go")
	if err != nil {
		t.Fatal(err)
	}
	total := 0
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		total += lineCount(t, f)
	}
	if total > maxCmdLines {
		t.Errorf("cmd/bluegreen holds %d lines of non-test Go, more than %d: move what a verb does into the package it belongs to and keep the verb thin", total, maxCmdLines)
	}
}

// TestNoOversizedFiles fails on a non-test Go file of more than
// maxFileLines lines whose first comment does not say why it must be one
// file.
func TestNoOversizedFiles(t *testing.T) {
	err := filepath.WalkDir(".", func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (strings.HasPrefix(d.Name(), ".") || d.Name() == "testdata") && path != "." {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		if n := lineCount(t, path); n > maxFileLines {
			data, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			if !bytes.Contains(firstComment(data), []byte("must be one file")) {
				t.Errorf("%s has %d lines, more than %d: split it by concern, or say in its first comment why it must be one file", path, n, maxFileLines)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// lineCount is the number of lines in the file at path.
func lineCount(t *testing.T, path string) int {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return bytes.Count(data, []byte("\n"))
}

// firstComment is the first run of // comment lines of a Go file.
func firstComment(data []byte) []byte {
	var out []byte
	sc := bufio.NewScanner(bytes.NewReader(data))
	started := false
	for sc.Scan() {
		line := bytes.TrimSpace(sc.Bytes())
		if bytes.HasPrefix(line, []byte("//")) {
			started = true
			out = append(append(out, line...), '\n')
			continue
		}
		if started {
			break
		}
	}
	return out
}
